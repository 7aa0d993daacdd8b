// The scan's parts on hand-made input: the pickle walk, the globals policy, the code check.
// The corpus of real malicious and benign model files is scanned in tests/cli/test_scan.py.
#include "engine/scan/code_check.h"
#include "engine/scan/globals.h"
#include "engine/scan/pickle_walk.h"
#include "engine/scan/scan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace modelgate::engine::scan {
namespace {

using namespace std::string_literals;

std::vector<std::string> names(const PickleWalk& w) {
  std::vector<std::string> out;
  for (const auto& g : w.globals) out.push_back(g.qualified());
  return out;
}

TEST(PickleWalk, FindsGlobalsInEveryProtocol) {
  // pickle.dumps of an object whose __reduce__ returns (os.system, ('true',)), protocols 0, 2, 4.
  const auto p0 = "cposix\nsystem\np0\n(Vtrue\np1\ntp2\nRp3\n."s;
  const auto p2 = "\x80\x02" "cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."s;
  const auto p4 = "\x80\x04\x95\x1f\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c\x04true\x94\x85\x94R\x94."s;
  for (const auto& p : {p0, p2, p4}) {
    const auto w = walk_pickle(p);
    EXPECT_FALSE(w.error) << *w.error;
    EXPECT_EQ(names(w), std::vector<std::string>{"posix.system"});
    EXPECT_EQ(w.end, p.size());
  }
}

TEST(PickleWalk, StackGlobalThroughTheMemo) {
  // The module and name strings are memoized, then fetched back with BINGET for STACK_GLOBAL.
  const auto p = "\x80\x04\x8c\x02os\x94\x8c\x06system\x94" "0" "0" "h\x00h\x01\x93."s;
  const auto w = walk_pickle(p);
  ASSERT_FALSE(w.error) << *w.error;
  EXPECT_EQ(names(w), std::vector<std::string>{"os.system"});
}

TEST(PickleWalk, MalformedInputIsAnErrorNotACrash) {
  EXPECT_TRUE(walk_pickle("\x80\x02"s).error);                       // no STOP
  EXPECT_TRUE(walk_pickle("\x80\x02X\xff\xff\xff\x7f"s).error);      // length past the end
  EXPECT_TRUE(walk_pickle("\x80\x02\xff."s).error);                  // unknown opcode
  EXPECT_TRUE(walk_pickle("\x80\x02R."s).error);                     // stack underflow
  EXPECT_TRUE(walk_pickle("\x80\x04K\x01K\x02\x93."s).error);        // STACK_GLOBAL on integers
  EXPECT_TRUE(walk_pickle("\x80\x02h\x05."s).error);                 // memo key never stored
  EXPECT_TRUE(walk_pickle(""s).error);
}

TEST(PickleWalk, APickleBombIsRefusedWithinBoundedMemory) {
  // Ten million NONE pushes: a valid pickle whose stack alone would take hundreds of MB.
  const auto bomb = "\x80\x02" + std::string(10'000'000, 'N') + ".";
  const auto w = walk_pickle(bomb);
  ASSERT_TRUE(w.error);
  EXPECT_NE(w.error->find("stack grows past"), std::string::npos) << *w.error;
}

// Produces a pickle lazily: PROTO 4, BINBYTES8 of `n` zero bytes, then a GLOBAL and STOP. Its
// bytes never exist all at once, so a walk that held its input whole could not finish.
class LazyPickle : public ByteSource {
 public:
  explicit LazyPickle(uint64_t n, size_t chunk) : n_(n), chunk_(chunk) {
    head_ = "\x80\x04\x8e"s;
    for (int i = 0; i < 8; ++i) head_ += static_cast<char>((n >> (8 * i)) & 0xff);
  }
  size_t read(char* dst, size_t n) override {
    n = std::min(n, chunk_);
    size_t out = 0;
    while (out < n) {
      if (pos_ < head_.size()) {
        dst[out++] = head_[pos_++];
      } else if (pos_ < head_.size() + n_) {
        const auto k = std::min<uint64_t>(n - out, head_.size() + n_ - pos_);
        std::fill(dst + out, dst + out + k, '\0');
        out += k;
        pos_ += k;
      } else {
        const auto tail = "0cos\nsystem\n."s;  // POP the bytes, then the global
        const auto i = pos_ - head_.size() - n_;
        if (i >= tail.size()) break;
        dst[out++] = tail[i];
        ++pos_;
      }
    }
    return out;
  }

 private:
  std::string head_;
  uint64_t n_, pos_ = 0;
  size_t chunk_;
};

TEST(PickleWalk, StreamsAHugeArgumentWithoutHoldingIt) {
  LazyPickle source(3ull << 30, 1 << 20);  // 3 GiB of argument
  uint64_t read = 0;
  const auto walks = walk_pickles(source, UINT64_MAX, &read);
  ASSERT_EQ(walks.size(), 1u);
  ASSERT_FALSE(walks[0].error) << *walks[0].error;
  EXPECT_EQ(names(walks[0]), std::vector<std::string>{"os.system"});
  EXPECT_GT(read, 3ull << 30);
}

TEST(PickleWalk, ByteAtATimeReadsGiveTheSameWalk) {
  LazyPickle whole(100, 1 << 20), trickle(100, 1);
  const auto a = walk_pickles(whole, UINT64_MAX), b = walk_pickles(trickle, UINT64_MAX);
  ASSERT_FALSE(b[0].error) << *b[0].error;
  EXPECT_EQ(names(a[0]), names(b[0]));
  EXPECT_EQ(a[0].globals[0].offset, b[0].globals[0].offset);
  EXPECT_EQ(a[0].end, b[0].end);
}

TEST(PickleWalk, TheReadLimitEndsTheWalk) {
  LazyPickle source(1 << 20, 1 << 16);
  const auto walks = walk_pickles(source, 4096);
  ASSERT_TRUE(walks[0].error);
}

TEST(PickleWalk, ConsecutivePicklesOfALegacyTorchSave) {
  const auto a = "\x80\x02K\x01."s, b = "\x80\x02" "cos\nsystem\n."s;
  const auto walks = walk_pickles(a + b + "raw storage bytes");
  ASSERT_EQ(walks.size(), 2u);
  EXPECT_EQ(names(walks[1]), std::vector<std::string>{"os.system"});
}

TEST(Globals, TensorArchiveGlobalsAreAllowed) {
  for (const auto& [m, n] : std::vector<std::pair<std::string, std::string>>{
           {"torch._utils", "_rebuild_tensor_v2"}, {"collections", "OrderedDict"}, {"torch", "FloatStorage"},
           {"torch", "QInt8Storage"}, {"__torch__.torch.nn.modules.conv", "Conv2d"}, {"torch.jit._pickle", "build_intlist"},
           {"torch", "per_tensor_affine"}})
    EXPECT_FALSE(classify_global(m, n)) << m << "." << n;
}

TEST(Globals, CodeRunningGlobalsAreCritical) {
  for (const auto& [m, n] : std::vector<std::pair<std::string, std::string>>{
           {"os", "system"}, {"posix", "system"}, {"subprocess", "Popen"}, {"builtins", "eval"}, {"__builtin__", "exec"},
           {"builtins", "getattr"}, {"runpy", "run_path"}, {"socket", "create_connection"}, {"torch", "load"},
           {"os.path", "join"}})
    EXPECT_EQ(classify_global(m, n).value_or(GlobalVerdict{Severity::low, ""}).severity, Severity::critical) << m << "." << n;
  EXPECT_EQ(classify_global("builtins", "print")->severity, Severity::high);
  EXPECT_EQ(classify_global("mypackage.layers", "Custom")->severity, Severity::high);
  EXPECT_EQ(classify_global("torch", "Storage.evil")->severity, Severity::high);  // not a storage class
}

TEST(CodeCheck, TrivialStateMethodsPass) {
  const auto code =
      "class M(Module):\n"
      "  def __getstate__(self: __torch__.M) -> Tuple[float, Tensor]:\n"
      "    scale = self.scale\n"
      "    w = self.w\n"
      "    return (scale, w)\n"
      "  def __setstate__(self: __torch__.M,\n"
      "    state: Tuple[float, Tensor]) -> NoneType:\n"
      "    self.scale = (state)[0]\n"
      "    self.w = (state)[1]\n"
      "    return None\n"
      "  def forward(self: __torch__.M, x: Tensor) -> Tensor:\n"
      "    return torch.mul(x, self.scale)\n";
  EXPECT_TRUE(check_code(code, "m/code/__torch__.py").empty());
}

TEST(CodeCheck, SetstateThatDoesMoreIsCritical) {
  const auto code =
      "  def __setstate__(self: __torch__.M,\n"
      "    state: Tuple[str, Tensor]) -> NoneType:\n"
      "    self.path = (state)[0]\n"
      "    _0 = torch.copy_(torch.ones([8]), (state)[1])\n"
      "    return None\n";
  const auto f = check_code(code, "m/code/__torch__.py");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].id, "code/setstate");
  EXPECT_EQ(f[0].severity, Severity::critical);
  EXPECT_EQ(f[0].location, "m/code/__torch__.py:1");
}

TEST(CodeCheck, FileAccessAnywhereIsCritical) {
  const auto f = check_code("  def forward(self, x: Tensor) -> Tensor:\n    torch.save(x, \"/tmp/x\")\n    return x\n", "c.py");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].id, "code/file-access");
  EXPECT_EQ(f[0].location, "c.py:2");
  EXPECT_EQ(check_code("    t = torch.from_file(path, True, 8, dtype=0)\n", "c.py").size(), 1u);
  EXPECT_TRUE(check_code("    y = torch.saved_tensor(x)\n    z = self.save\n", "c.py").empty());
}

TEST(CodeCheck, StateMethodShapes) {
  const auto setstate = [](const std::string& line) {
    return check_code("  def __setstate__(self, state: Tuple[Tensor]) -> NoneType:\n    " + line + "\n", "c.py");
  };
  EXPECT_TRUE(setstate("self.w = (state)[12]").empty());
  EXPECT_TRUE(setstate("self.w = state").empty());
  EXPECT_EQ(setstate("self.w = (state)[x]").size(), 1u);
  EXPECT_EQ(setstate("self.w = state.x").size(), 1u);
  EXPECT_EQ(setstate("self.w = (state)[1] ").size(), 0u);  // trailing blanks are trimmed
  const auto getstate = [](const std::string& line) {
    return check_code("  def __getstate__(self) -> Tuple[Tensor]:\n    " + line + "\n", "c.py");
  };
  for (const char* ok : {"return w", "return (a, b)", "return (a,)", "w = self.w"})
    EXPECT_TRUE(getstate(ok).empty()) << ok;
  for (const char* bad : {"return (a, )", "return (a,b)", "return f(a)", "w = self.w.x", "return ()"})
    EXPECT_EQ(getstate(bad).size(), 1u) << bad;
}

// Lines and names of hundreds of kilobytes (an archive controls them) are matched without
// recursion per character, which overflowed the stack with std::regex.
TEST(CodeCheck, VeryLongLinesAndNamesAreMatchedWithoutRecursion) {
  const std::string name(400000, 'a');
  EXPECT_EQ(check_code("    x = " + name + " + torch.load  (p)\n", "c.py").size(), 1u);
  EXPECT_EQ(check_code("  def __getstate__(self):\n    return (" + name + ", " + name + ")\n", "c.py").size(), 0u);
  EXPECT_EQ(check_code("  def __setstate__(self, s):\n    " + name + "." + name + " = " + name + "\n", "c.py").size(),
            0u);
  EXPECT_TRUE(expected_record("code/" + name + "/" + name + ".py"));
  EXPECT_FALSE(expected_record("extra/" + name + "/x"));
}

TEST(Archive, ExpectedRecordNames) {
  for (const char* ok : {"data.pkl", "version", ".data/version", "data/0", "constants/12", "traced_inputs/3",
                         ".data/7.storage", "extra/model.json", "code/__torch__.py", "code/__torch__/a.b/c.py",
                         "code/__torch__.py.debug_pkl"})
    EXPECT_TRUE(expected_record(ok)) << ok;
  for (const char* bad : {"data/x", "data/", "data/1/2", ".data/x.storage", ".data/1.storagex", "extra/", "extra/a/b",
                          "code/.py", "code/a//b.py", "code/a-b.py", "code/a.pyc", "evil.so", "code/a.py.debug"})
    EXPECT_FALSE(expected_record(bad)) << bad;
}

TEST(ScanBytes, ScansBuffersAsItScansFiles) {
  // A protocol-2 pickle of posix.system: the same finding from memory as from a file.
  const auto p2 = "\x80\x02" "cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."s;
  const auto r = scan_bytes(p2, "mem.pkl");
  EXPECT_EQ(r.format, FileFormat::pickle);
  ASSERT_FALSE(r.findings.empty());
  EXPECT_EQ(r.findings.front().id, "pickle/dangerous-global");
  EXPECT_EQ(r.findings.front().location, "mem.pkl@2");
  EXPECT_TRUE(scan_bytes("", "empty").unreadable);
  EXPECT_TRUE(scan_bytes("PK\x03\x04 not really a zip"s, "bad.zip").unreadable);
}

}  // namespace
}  // namespace modelgate::engine::scan
