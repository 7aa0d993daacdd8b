#include "engine/scan/pickle_walk.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <map>

namespace modelgate::engine::scan {
namespace {

// Strings longer than this are kept as "some value": module and attribute names are short,
// and copying long strings on every DUP or GET would let a small pickle use much memory.
constexpr size_t kMaxKeptString = 1024;
// A tensor archive's pickles nest a few levels deep and memoize one entry per object; these
// bounds keep a pickle bomb (millions of pushes) from costing more than a few hundred MB.
constexpr size_t kMaxStack = 100000;
constexpr size_t kMaxMemo = 2000000;

struct Item {
  enum Kind { mark, string, other } kind = other;
  std::string text;
};

// A read window over a ByteSource: bytes come in chunks and are dropped once consumed.
class Stream {
 public:
  Stream(ByteSource& source, uint64_t limit) : source_(source), limit_(limit) {}

  uint64_t pos() const { return pos_; }
  // Makes `n` bytes available at window(); false if the source ends first.
  bool fill(size_t n) {
    if (start_ > 0 && start_ == buf_.size()) {
      buf_.clear();
      start_ = 0;
    }
    while (buf_.size() - start_ < n) {
      if (start_ > kChunk) {  // keep the window small: drop what was consumed
        buf_.erase(0, start_);
        start_ = 0;
      }
      const uint64_t room = limit_ - std::min(limit_, read_);
      if (room == 0) return false;
      const size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, room));
      const auto old = buf_.size();
      buf_.resize(old + want);
      const auto got = source_.read(buf_.data() + old, want);
      buf_.resize(old + got);
      read_ += got;
      if (got == 0) return false;
    }
    return true;
  }
  const char* window() const { return buf_.data() + start_; }
  void consume(size_t n) {
    start_ += n;
    pos_ += n;
  }
  // Skips `n` bytes without keeping them; false if the source ends first.
  bool skip(uint64_t n) {
    while (n > 0) {
      const size_t step = static_cast<size_t>(std::min<uint64_t>(n, kChunk));
      if (!fill(step)) return false;
      consume(step);
      n -= step;
    }
    return true;
  }
  // The next byte without consuming it (-1 at the end).
  int peek() { return fill(1) ? static_cast<unsigned char>(*window()) : -1; }
  uint64_t bytes_read() const { return read_; }

 private:
  static constexpr size_t kChunk = 1 << 16;
  ByteSource& source_;
  uint64_t limit_;
  uint64_t read_ = 0, pos_ = 0;
  std::string buf_;
  size_t start_ = 0;
};

// Lines (protocol 0 arguments) are module names, numbers and short strings.
constexpr size_t kMaxLine = 1 << 16;

class Walker {
 public:
  explicit Walker(Stream& in) : in_(in) { out_.end = in.pos(); }

  PickleWalk run() {
    try {
      while (step()) ++out_.opcodes;
      ++out_.opcodes;
    } catch (const Malformed& e) {
      out_.error = fmt::format("offset {}: {}", op_at_, e.what);
    } catch (const std::runtime_error& e) {
      out_.error = fmt::format("offset {}: the stream cannot be read: {}", op_at_, e.what());
    }
    out_.end = in_.pos();
    return std::move(out_);
  }

 private:
  struct Malformed {
    std::string what;
  };

  [[noreturn]] void fail(const std::string& what) { throw Malformed{what}; }

  void need(uint64_t n) {
    if (!in_.fill(static_cast<size_t>(n))) fail(fmt::format("argument of {} bytes runs past the end", n));
  }
  void skip_bytes(uint64_t n) {
    if (!in_.skip(n)) fail(fmt::format("argument of {} bytes runs past the end", n));
  }
  unsigned char byte() {
    need(1);
    const auto c = static_cast<unsigned char>(*in_.window());
    in_.consume(1);
    return c;
  }
  uint64_t uint_le(int n) {
    need(static_cast<uint64_t>(n));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in_.window()[i]);
    in_.consume(static_cast<size_t>(n));
    return v;
  }
  // A length-prefixed argument: kept when short enough to be a name, skipped otherwise.
  std::optional<std::string> bytes(uint64_t n) {
    if (n > kMaxKeptString) {
      if (!in_.skip(n)) fail(fmt::format("argument of {} bytes runs past the end", n));
      return std::nullopt;
    }
    need(n);
    std::string s(in_.window(), static_cast<size_t>(n));
    in_.consume(static_cast<size_t>(n));
    return s;
  }
  std::string line() {
    std::string s;
    for (;;) {
      if (!in_.fill(1)) fail("a text argument has no end of line");
      const char c = *in_.window();
      in_.consume(1);
      if (c == '\n') return s;
      if (s.size() >= kMaxLine) fail(fmt::format("a text argument longer than {} bytes", kMaxLine));
      s += c;
    }
  }

  void push(Item item) {
    if (stack_.size() >= kMaxStack) fail(fmt::format("the stack grows past {} values", kMaxStack));
    stack_.push_back(std::move(item));
  }
  void push_string(std::string_view s) {
    if (s.size() > kMaxKeptString) return push_other();
    push({Item::string, std::string(s)});
  }
  void push_kept(const std::optional<std::string>& s) {
    if (!s) return push_other();
    push({Item::string, *s});
  }
  void push_other() { push({Item::other, {}}); }
  Item pop() {
    if (stack_.empty() || stack_.back().kind == Item::mark) fail("stack underflow");
    auto it = std::move(stack_.back());
    stack_.pop_back();
    return it;
  }
  void pop(int n) {
    for (int i = 0; i < n; ++i) pop();
  }
  void pop_to_mark() {
    while (!stack_.empty() && stack_.back().kind != Item::mark) stack_.pop_back();
    if (stack_.empty()) fail("no MARK to pop to");
    stack_.pop_back();
  }
  const Item& top() {
    if (stack_.empty()) fail("stack underflow");
    return stack_.back();
  }
  void memo_put(uint64_t key) {
    if (memo_.size() >= kMaxMemo && !memo_.count(key)) fail(fmt::format("the memo grows past {} entries", kMaxMemo));
    memo_[key] = top();
  }
  void memo_get(uint64_t key) {
    const auto it = memo_.find(key);
    if (it == memo_.end()) fail(fmt::format("memo key {} was never stored", key));
    push(it->second);
  }
  void global(std::string module, std::string name) {
    out_.globals.push_back({std::move(module), std::move(name), op_at_});
  }
  static uint64_t parse_uint(std::string_view s) {
    uint64_t v = 0;
    for (char c : s) {
      if (c < '0' || c > '9' || v > (UINT64_MAX - 9) / 10) return UINT64_MAX;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
  }
  // Protocol 0 STRING arguments are Python literals: 'abc' or "abc".
  static std::string_view unquote(std::string_view s) {
    if (s.size() >= 2 && (s.front() == '\'' || s.front() == '"') && s.back() == s.front()) return s.substr(1, s.size() - 2);
    return s;
  }

  bool step() {
    op_at_ = in_.pos();
    const auto op = byte();
    switch (op) {
      case '(': push({Item::mark, {}}); break;
      case '.': return false;  // STOP
      case '0': pop(); break;
      case '1': pop_to_mark(); break;
      case '2': push(top()); break;
      case 'F': case 'I': case 'L': line(); push_other(); break;
      case 'J': skip_bytes(4); push_other(); break;
      case 'K': skip_bytes(1); push_other(); break;
      case 'M': skip_bytes(2); push_other(); break;
      case 'G': skip_bytes(8); push_other(); break;
      case 'N': case 0x88: case 0x89: case '}': case ']': case ')': case 0x8f: case 0x97: push_other(); break;
      case 'P': line(); push_other(); break;
      case 'Q': pop(); push_other(); break;
      case 'R': pop(2); push_other(); break;
      case 'S': push_string(unquote(line())); break;
      case 'T': push_kept(bytes(uint_le(4))); break;
      case 'U': push_kept(bytes(uint_le(1))); break;
      case 'V': push_string(std::string_view(line())); break;
      case 'X': push_kept(bytes(uint_le(4))); break;
      case 0x8c: push_kept(bytes(uint_le(1))); break;
      case 0x8d: push_kept(bytes(uint_le(8))); break;
      case 'B': bytes(uint_le(4)); push_other(); break;
      case 'C': bytes(uint_le(1)); push_other(); break;
      case 0x8e: case 0x96: bytes(uint_le(8)); push_other(); break;
      case 0x8a: bytes(uint_le(1)); push_other(); break;
      case 0x8b: bytes(uint_le(4)); push_other(); break;
      case 'a': case 'b': pop(); break;
      case 's': pop(2); break;
      case 'e': case 'u': case 0x90: pop_to_mark(); break;
      case 'd': case 'l': case 't': case 'o': case 0x91: pop_to_mark(); push_other(); break;
      case 'c': case 'i': {
        auto module = line();
        auto name = line();
        global(std::move(module), std::move(name));
        if (op == 'i') pop_to_mark();
        push_other();
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        const auto name = pop();
        const auto module = pop();
        if (module.kind != Item::string || name.kind != Item::string)
          fail("STACK_GLOBAL takes its module and name from values that are not strings");
        global(module.text, name.text);
        push_other();
        break;
      }
      case 'g': memo_get(parse_uint(line())); break;
      case 'h': memo_get(uint_le(1)); break;
      case 'j': memo_get(uint_le(4)); break;
      case 'p': memo_put(parse_uint(line())); break;
      case 'q': memo_put(uint_le(1)); break;
      case 'r': memo_put(uint_le(4)); break;
      case 0x94: memo_put(memo_.size()); break;
      case 0x80: skip_bytes(1); break;  // PROTO
      case 0x95: skip_bytes(8); break;  // FRAME: its length only groups opcodes
      case 0x81: pop(2); push_other(); break;  // NEWOBJ
      case 0x92: pop(3); push_other(); break;  // NEWOBJ_EX
      case 0x82: out_.extension_codes.push_back(uint_le(1)); push_other(); break;
      case 0x83: out_.extension_codes.push_back(uint_le(2)); push_other(); break;
      case 0x84: out_.extension_codes.push_back(uint_le(4)); push_other(); break;
      case 0x85: pop(1); push_other(); break;
      case 0x86: pop(2); push_other(); break;
      case 0x87: pop(3); push_other(); break;
      case 0x98: pop(); push_other(); break;  // READONLY_BUFFER
      default: fail(fmt::format("unknown opcode 0x{:02x}", op));
    }
    return true;
  }

  Stream& in_;
  uint64_t op_at_ = 0;
  std::vector<Item> stack_;
  std::map<uint64_t, Item> memo_;
  PickleWalk out_;
};

}  // namespace

size_t BufferSource::read(char* dst, size_t n) {
  const auto k = std::min(n, bytes_.size() - pos_);
  if (k) std::memcpy(dst, bytes_.data() + pos_, k);
  pos_ += k;
  return k;
}

PickleWalk walk_pickle(std::string_view bytes, uint64_t offset) {
  BufferSource source(bytes.substr(std::min<size_t>(offset, bytes.size())));
  Stream in(source, UINT64_MAX);
  if (in.peek() < 0) {
    PickleWalk w;
    w.end = offset;
    w.error = "empty pickle";
    return w;
  }
  auto w = Walker(in).run();
  w.end += offset;
  for (auto& g : w.globals) g.offset += offset;
  return w;
}

std::vector<PickleWalk> walk_pickles(ByteSource& source, uint64_t limit, uint64_t* read) {
  Stream in(source, limit);
  std::vector<PickleWalk> walks;
  if (in.peek() < 0) {
    walks.push_back({});
    walks.back().error = "empty pickle";
  } else {
    do {
      walks.push_back(Walker(in).run());
    } while (!walks.back().error && in.peek() == 0x80);
  }
  if (read) *read = in.bytes_read();
  return walks;
}

std::vector<PickleWalk> walk_pickles(std::string_view bytes) {
  BufferSource source(bytes);
  return walk_pickles(source, UINT64_MAX);
}

}  // namespace modelgate::engine::scan
