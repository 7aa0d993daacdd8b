#include "engine/scan/pickle_walk.h"

#include <fmt/format.h>

#include <cstring>
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

class Walker {
 public:
  Walker(std::string_view bytes, uint64_t offset) : b_(bytes), pos_(offset) { out_.end = offset; }

  PickleWalk run() {
    try {
      while (step()) ++out_.opcodes;
      ++out_.opcodes;
    } catch (const Malformed& e) {
      out_.error = fmt::format("offset {}: {}", op_at_, e.what);
    }
    out_.end = pos_;
    return std::move(out_);
  }

 private:
  struct Malformed {
    std::string what;
  };

  [[noreturn]] void fail(const std::string& what) { throw Malformed{what}; }

  uint64_t need(uint64_t n) {
    if (n > b_.size() - pos_) fail(fmt::format("argument of {} bytes runs past the end", n));
    const auto at = pos_;
    pos_ += n;
    return at;
  }
  uint64_t uint_le(int n) {
    const auto at = need(static_cast<uint64_t>(n));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b_[at + static_cast<uint64_t>(i)]);
    return v;
  }
  std::string_view bytes(uint64_t n) { return b_.substr(need(n), n); }
  std::string_view line() {
    const auto nl = b_.find('\n', pos_);
    if (nl == std::string_view::npos) fail("a text argument has no end of line");
    const auto s = b_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    return s;
  }

  void push(Item item) {
    if (stack_.size() >= kMaxStack) fail(fmt::format("the stack grows past {} values", kMaxStack));
    stack_.push_back(std::move(item));
  }
  void push_string(std::string_view s) {
    if (s.size() > kMaxKeptString) return push_other();
    push({Item::string, std::string(s)});
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
    op_at_ = pos_;
    const auto op = static_cast<unsigned char>(b_[need(1)]);
    switch (op) {
      case '(': push({Item::mark, {}}); break;
      case '.': return false;  // STOP
      case '0': pop(); break;
      case '1': pop_to_mark(); break;
      case '2': push(top()); break;
      case 'F': case 'I': case 'L': line(); push_other(); break;
      case 'J': need(4); push_other(); break;
      case 'K': need(1); push_other(); break;
      case 'M': need(2); push_other(); break;
      case 'G': need(8); push_other(); break;
      case 'N': case 0x88: case 0x89: case '}': case ']': case ')': case 0x8f: case 0x97: push_other(); break;
      case 'P': line(); push_other(); break;
      case 'Q': pop(); push_other(); break;
      case 'R': pop(2); push_other(); break;
      case 'S': push_string(unquote(line())); break;
      case 'T': push_string(bytes(uint_le(4))); break;
      case 'U': push_string(bytes(uint_le(1))); break;
      case 'V': push_string(line()); break;
      case 'X': push_string(bytes(uint_le(4))); break;
      case 0x8c: push_string(bytes(uint_le(1))); break;
      case 0x8d: push_string(bytes(uint_le(8))); break;
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
        std::string module(line());
        std::string name(line());
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
      case 0x80: need(1); break;  // PROTO
      case 0x95: need(8); break;  // FRAME: its length only groups opcodes
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

  std::string_view b_;
  uint64_t pos_;
  uint64_t op_at_ = 0;
  std::vector<Item> stack_;
  std::map<uint64_t, Item> memo_;
  PickleWalk out_;
};

}  // namespace

PickleWalk walk_pickle(std::string_view bytes, uint64_t offset) {
  if (offset >= bytes.size()) {
    PickleWalk w;
    w.end = offset;
    w.error = "empty pickle";
    return w;
  }
  return Walker(bytes, offset).run();
}

std::vector<PickleWalk> walk_pickles(std::string_view bytes) {
  std::vector<PickleWalk> walks;
  uint64_t at = 0;
  do {
    walks.push_back(walk_pickle(bytes, at));
    at = walks.back().end;
  } while (!walks.back().error && at < bytes.size() && static_cast<unsigned char>(bytes[at]) == 0x80);
  return walks;
}

}  // namespace modelgate::engine::scan
