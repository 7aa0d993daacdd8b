// What confine() denies, action by action, each next to a control run that does the same
// without confine(), so that a test fails when the denial is not there.
#include "engine/isolation/confine.h"
#include "tests/isolation/worker_helpers.h"

#include <cerrno>
#include <csignal>
#include <functional>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace modelgate::engine::isolation {
namespace {

using nlohmann::json;
using testing::Outcome;
using testing::TempDir;
using testing::run_worker;

const json kNoConfine = nullptr;

class Confine : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel_ = probe();
    if (!kernel_.seccomp) GTEST_SKIP() << "seccomp is not available in this kernel";
  }
  // Readable: `readable_` only (besides the system and runtime folders).
  json policy() const { return {{"read_paths", {readable_.path().string()}}}; }
  void require_landlock() {
    if (kernel_.landlock_abi == 0) GTEST_SKIP() << "Landlock is not available: " << kernel_.landlock_reason;
  }

  KernelSupport kernel_;
  TempDir readable_, outside_;
};

// The action must be refused by seccomp (EPERM) or Landlock (EACCES) when confined and succeed
// in the control run.
void expect_denied_only_when_confined(const json& confined_policy, const std::string& action, const json& arg,
                                      const std::function<void()>& reset = {}) {
  const Outcome control = run_worker(kNoConfine, action, arg);
  EXPECT_EQ(control.result.value("ok", false), true) << action << " failed without confine(): " << control.result;
  if (reset) reset();
  const Outcome confined = run_worker(confined_policy, action, arg);
  ASSERT_TRUE(confined.applied.is_object()) << confined.end.describe();
  EXPECT_EQ(confined.result.value("ok", true), false) << action << " was allowed after confine()";
  const int e = confined.result.value("errno", 0);
  EXPECT_TRUE(e == EPERM || e == EACCES) << action << ": " << confined.result;
}

TEST_F(Confine, ReportsWhatItApplied) {
  const Outcome o = run_worker(policy(), "echo", "hi");
  ASSERT_TRUE(o.applied.is_object()) << o.end.describe();
  const Applied a = Applied::from_json(o.applied);
  EXPECT_EQ(a.landlock_applied, kernel_.landlock_abi > 0) << a.landlock;
  EXPECT_TRUE(a.seccomp_applied) << a.seccomp;
  EXPECT_EQ(a.landlock_unconfined_threads, 0);
  if (kernel_.landlock_abi > 0) {
    EXPECT_EQ(a.landlock.rfind("Landlock ABI " + std::to_string(kernel_.landlock_abi) + ":", 0), 0u) << a.landlock;
  }
  EXPECT_NE(a.seccomp.find("no file writes"), std::string::npos) << a.seccomp;
  EXPECT_EQ(a.memory, "no memory limit");
  EXPECT_EQ(a.cpu, "no CPU-time limit");
  EXPECT_EQ(o.result, json({{"ok", true}, {"echo", "hi"}}));
  EXPECT_EQ(o.end.kind, Event::Kind::exited);
}

TEST_F(Confine, WritingAnExistingFileIsDenied) {
  const std::string file = readable_.file("model.pt");
  expect_denied_only_when_confined(policy(), "write-file", file);
}

TEST_F(Confine, CreatingAFileIsDenied) {
  const std::string file = (readable_.path() / "new.txt").string();
  expect_denied_only_when_confined(policy(), "create-file", file, [&] { std::filesystem::remove(file); });
  EXPECT_FALSE(std::filesystem::exists(file));
}

TEST_F(Confine, RenamingIsDenied) {
  const std::string file = readable_.file("a");
  expect_denied_only_when_confined(policy(), "rename", file, [&] { readable_.file("a"); });
  EXPECT_TRUE(std::filesystem::exists(file));
}

TEST_F(Confine, UnlinkingIsDenied) {
  const std::string file = readable_.file("b");
  expect_denied_only_when_confined(policy(), "unlink", file, [&] { readable_.file("b"); });
  EXPECT_TRUE(std::filesystem::exists(file));
}

TEST_F(Confine, OpeningReadWriteIsDenied) {
  expect_denied_only_when_confined(policy(), "open-rdwr", readable_.file("c"));
}

TEST_F(Confine, InetSocketIsDenied) { expect_denied_only_when_confined(policy(), "socket-inet", nullptr); }

TEST_F(Confine, ConnectingToAUnixSocketIsDenied) {
  const std::string path = (outside_.path() / "sock").string();
  const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  expect_denied_only_when_confined(policy(), "socket-unix-connect", path);
  ::close(listener);
}

TEST_F(Confine, ForkIsDenied) { expect_denied_only_when_confined(policy(), "fork", nullptr); }

TEST_F(Confine, SignallingTheParentIsDenied) {
  expect_denied_only_when_confined(policy(), "kill-parent", nullptr);  // signal 0: a permission check only
}

TEST_F(Confine, ExecIsDenied) {
  // Without confine() the worker becomes /bin/true and exits 0 without a reply.
  const Outcome control = run_worker(kNoConfine, "exec", nullptr);
  EXPECT_TRUE(control.result.is_null()) << control.result;
  EXPECT_EQ(control.end.kind, Event::Kind::exited);
  EXPECT_EQ(control.end.exit_code, 0);
  const Outcome confined = run_worker(policy(), "exec", nullptr);
  EXPECT_EQ(confined.result.value("ok", true), false);
  EXPECT_EQ(confined.result.value("errno", 0), EPERM) << confined.result;
}

TEST_F(Confine, LimitsCannotBeChangedAndCoreFilesAreOff) {
  expect_denied_only_when_confined(policy(), "limits", nullptr);
  EXPECT_EQ(run_worker(policy(), "limits", nullptr).result.value("core", -2), 0);
}

TEST_F(Confine, SignalsToItselfStillWork) {
  // abort() is tgkill(getpid(), gettid(), SIGABRT): the kill rules must let that through.
  const Outcome o = run_worker(policy(), "abort", nullptr);
  EXPECT_EQ(o.end.kind, Event::Kind::crashed) << o.end.describe();
  EXPECT_EQ(o.end.signal, SIGABRT);
}

TEST_F(Confine, ReadsOnlyUnderReadPaths) {
  require_landlock();
  const Outcome inside = run_worker(policy(), "read-file", readable_.file("in.txt", "inside"));
  EXPECT_EQ(inside.result, json({{"ok", true}, {"errno", 0}, {"content", "inside"}}));
  const std::string out = outside_.file("out.txt", "outside");
  EXPECT_EQ(run_worker(kNoConfine, "read-file", out).result.value("ok", false), true);
  const Outcome denied = run_worker(policy(), "read-file", out);
  EXPECT_EQ(denied.result.value("ok", true), false);
  EXPECT_EQ(denied.result.value("errno", 0), EACCES) << denied.result;
  // /proc/self is readable, but its root link leads back to the real file, which is not.
  const std::string via_proc = "/proc/self/root" + out;
  EXPECT_EQ(run_worker(kNoConfine, "read-file", via_proc).result.value("ok", false), true);
  EXPECT_EQ(run_worker(policy(), "read-file", via_proc).result.value("errno", 0), EACCES);
}

TEST_F(Confine, AReadPathMayBeASingleFile) {
  require_landlock();
  const std::string allowed = outside_.file("one.txt"), other = outside_.file("two.txt");
  const json p = {{"read_paths", {allowed, (outside_.path() / "missing").string()}}};
  EXPECT_EQ(run_worker(p, "read-file", allowed).result.value("ok", false), true);
  EXPECT_EQ(run_worker(p, "read-file", other).result.value("errno", 0), EACCES);
}

TEST_F(Confine, ThreadsStartedAfterConfineWork) {
  const Outcome o = run_worker(policy(), "spawn-thread", nullptr);
  EXPECT_EQ(o.result.value("ok", false), true) << o.result << " " << o.end.describe();
  EXPECT_EQ(o.result.value("value", 0), 500500);
}

TEST_F(Confine, AThreadStartedBeforeConfineWorksAndIsConfinedToo) {
  require_landlock();
  const Outcome inside = run_worker(policy(), "read-file", readable_.file("in.txt", "pool"), /*pool=*/true);
  EXPECT_EQ(inside.result.value("content", ""), "pool") << inside.result;
  const std::string out = outside_.file("out.txt");
  const Outcome control = run_worker(kNoConfine, "read-file", out, /*pool=*/true);
  EXPECT_EQ(control.result.value("ok", false), true);
  const Outcome denied = run_worker(policy(), "read-file", out, /*pool=*/true);
  EXPECT_EQ(denied.result.value("errno", 0), EACCES) << "a thread started before confine() escaped Landlock";
  EXPECT_EQ(Applied::from_json(denied.applied).landlock_unconfined_threads, 0);
  // And seccomp reached it as well.
  EXPECT_EQ(run_worker(policy(), "socket-inet", nullptr, true).result.value("errno", 0), EPERM);
  EXPECT_EQ(run_worker(policy(), "spawn-thread", nullptr, true).result.value("value", 0), 500500);
}

TEST_F(Confine, AThreadBlockingSignalsIsReportedAsNotLandlockConfined) {
  require_landlock();
  Worker w = Worker::spawn(testing::worker_argv());
  w.send({{"policy", policy()}, {"action", "read-file"}, {"arg", outside_.file("out.txt")},
          {"pool_blocks_signals", true}});
  const Event applied = w.next(30);
  ASSERT_EQ(applied.kind, Event::Kind::message) << applied.describe();
  const Applied a = Applied::from_json(applied.message.at("applied"));
  EXPECT_EQ(a.landlock_unconfined_threads, 1);
  EXPECT_NE(a.landlock.find("1 thread(s) started before confinement block signals"), std::string::npos) << a.landlock;
  // The report is true: that thread can still read outside read_paths.
  const Event result = w.next(30);
  EXPECT_EQ(result.message.value("ok", false), true) << result.message;
}

TEST_F(Confine, WithADevicePathWritesAreLeftToLandlock) {
  require_landlock();
  // /dev/zero stands in for /dev/nvidia0: a device node the child must open read-write.
  const json p = {{"read_paths", {readable_.path().string()}}, {"device_paths", {"/dev/zero"}}};
  const Outcome device = run_worker(p, "open-rdwr", "/dev/zero");
  EXPECT_EQ(device.result.value("ok", false), true) << device.result;
  EXPECT_NE(Applied::from_json(device.applied).seccomp.find("left to Landlock because a GPU device"),
            std::string::npos);
  const Outcome file = run_worker(p, "write-file", readable_.file("model.pt"));
  EXPECT_EQ(file.result.value("errno", 0), EACCES) << "Landlock did not stop the write";
  EXPECT_EQ(run_worker(p, "open-rdwr", "/dev/full").result.value("errno", 0), EACCES);
  EXPECT_EQ(run_worker(p, "unlink", readable_.file("d")).result.value("errno", 0), EPERM);
}

TEST_F(Confine, AllowWritesLeavesWritesAlone) {
  json p = policy();
  p["allow_writes"] = true;
  const Outcome o = run_worker(p, "create-file", (readable_.path() / "made").string());
  EXPECT_EQ(o.result.value("ok", false), true) << o.result;
  EXPECT_EQ(run_worker(p, "socket-inet", nullptr).result.value("errno", 0), EPERM);
}

TEST_F(Confine, MemoryLimitFailsABigAllocationButNotASmallOne) {
  const uint64_t two_gib = 2ull << 30, small = 64ull << 20;
  EXPECT_EQ(run_worker(kNoConfine, "allocate", two_gib).result.value("ok", false), true);
  json p = policy();
  p["memory_bytes"] = 512ull << 20;
  const Outcome big = run_worker(p, "allocate", two_gib);
  EXPECT_EQ(big.result.value("ok", true), false) << big.end.describe();
  EXPECT_NE(Applied::from_json(big.applied).memory.find("address space limited to 512.0 MiB above"),
            std::string::npos);
  EXPECT_EQ(run_worker(p, "allocate", small).result.value("ok", false), true);
}

}  // namespace
}  // namespace modelgate::engine::isolation
