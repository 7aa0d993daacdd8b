// Worker: how the parent starts the child, waits for it, and learns how it ended.
#include "engine/isolation/worker.h"
#include "tests/isolation/worker_helpers.h"

#include <atomic>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace modelgate::engine::isolation {
namespace {

using nlohmann::json;
using testing::Outcome;
using testing::TempDir;
using testing::run_worker;
using testing::worker_argv;

Worker started(const std::string& action, const json& arg = nullptr, const json& policy = nullptr) {
  Worker w = Worker::spawn(worker_argv());
  w.send({{"policy", policy}, {"action", action}, {"arg", arg}});
  const Event applied = w.next(30);
  EXPECT_EQ(applied.kind, Event::Kind::message) << applied.describe();
  return w;
}

TEST(Worker, ExitStatusIsReported) {
  const Outcome o = run_worker(nullptr, "exit", 7);
  ASSERT_EQ(o.end.kind, Event::Kind::exited) << o.end.describe();
  EXPECT_EQ(o.end.exit_code, 7);
  EXPECT_EQ(o.end.describe(), "exited with status 7");
}

TEST(Worker, CrashIsReportedWithItsSignal) {
  const Outcome o = run_worker(json::object(), "crash");  // confined, with an empty policy
  ASSERT_EQ(o.end.kind, Event::Kind::crashed) << o.end.describe();
  EXPECT_EQ(o.end.signal, SIGSEGV);
  EXPECT_EQ(o.end.describe(), "killed by SIGSEGV (segmentation fault)");
}

TEST(Worker, CpuLimitEndsASpinningChildWithSigxcpu) {
  Worker w = started("spin-cpu", nullptr, {{"cpu_seconds", 1}});
  const Event e = w.next(20);
  ASSERT_EQ(e.kind, Event::Kind::crashed) << e.describe();
  EXPECT_EQ(e.signal, SIGXCPU);
  EXPECT_EQ(e.describe(), "CPU-time limit reached (SIGXCPU)");
}

TEST(Worker, TimeoutLeavesTheChildRunningUntilKilled) {
  Worker w = started("sleep-forever");
  const Event e = w.next(1.0);
  ASSERT_EQ(e.kind, Event::Kind::timed_out) << e.describe();
  EXPECT_EQ(e.describe(), "no reply within 1 s");
  EXPECT_EQ(::kill(w.pid(), 0), 0) << "the child should still be running";
  EXPECT_EQ(w.peak_rss_bytes(), 0);
  w.kill();
  EXPECT_GT(w.peak_rss_bytes(), 0);
  const Event end = w.next(1.0);
  EXPECT_EQ(end.kind, Event::Kind::crashed);
  EXPECT_EQ(end.signal, SIGKILL);
}

TEST(Worker, DestructorKillsAndReapsARunningChild) {
  pid_t pid;
  {
    Worker w = started("sleep-forever");
    pid = w.pid();
  }
  EXPECT_EQ(::kill(pid, 0), -1) << "child " << pid << " is still there (or a zombie)";
}

// Whether `pid` is gone or only a zombie (reparented children may wait a while to be reaped).
bool ended(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return true;
  const auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z';
}

TEST(Worker, ChildDiesWithItsParent) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t middle = ::fork();
  if (middle == 0) {
    Worker w = started("sleep-forever");
    const pid_t child = w.pid();
    [[maybe_unused]] ssize_t n = ::write(fds[1], &child, sizeof(child));
    ::_exit(0);  // no destructor: only PR_SET_PDEATHSIG can end the worker now
  }
  ::close(fds[1]);
  pid_t child = 0;
  ASSERT_EQ(::read(fds[0], &child, sizeof(child)), static_cast<ssize_t>(sizeof(child)));
  ::close(fds[0]);
  ::waitpid(middle, nullptr, 0);
  for (int i = 0; i < 200 && !ended(child); ++i) ::usleep(10 * 1000);
  EXPECT_TRUE(ended(child)) << "worker " << child << " outlived its parent";
  if (!ended(child)) ::kill(child, SIGKILL);
}

TEST(Worker, InterruptIsForwardedOnce) {
  Worker w = started("wait-sigterm", nullptr, json::object());  // Landlock's signal scope is one-way
  Event ready = w.next(10);
  ASSERT_EQ(ready.kind, Event::Kind::message);
  ASSERT_EQ(ready.message, json({{"ready", true}}));
  std::atomic<int> interrupt{0};
  EXPECT_EQ(w.next(0.3, &interrupt).kind, Event::Kind::timed_out) << "it replied without a signal";
  interrupt = SIGTERM;
  const Event got = w.next(10, &interrupt);
  ASSERT_EQ(got.kind, Event::Kind::message) << got.describe();
  EXPECT_EQ(got.message.value("got", 0), SIGTERM);
  EXPECT_EQ(w.next(10, &interrupt).kind, Event::Kind::exited);
}

TEST(Worker, FramesWrittenBeforeExitAreDrainedFirst) {
  Worker w = started("burst", 5);
  ::usleep(200 * 1000);  // let it exit before anything is read
  for (int i = 0; i < 5; ++i) {
    const Event e = w.next(10);
    ASSERT_EQ(e.kind, Event::Kind::message) << i << ": " << e.describe();
    EXPECT_EQ(e.message.value("n", -1), i);
  }
  EXPECT_EQ(w.next(10).kind, Event::Kind::exited);
  EXPECT_EQ(w.next(10).kind, Event::Kind::exited) << "the end is reported again";
}

TEST(Worker, AFrameTornByExitIsTheExitNotAnError) {
  Worker w = started("torn-frame");
  const Event e = w.next(10);
  EXPECT_EQ(e.kind, Event::Kind::exited) << e.describe();
}

TEST(Worker, AHugeFrameFromTheChildThrows) {
  Worker w = started("huge-frame");
  EXPECT_THROW(w.next(10), std::runtime_error);
  w.kill();
}

TEST(Worker, BigFramesEchoBack) {
  const std::string big(4 << 20, 'q');
  const Outcome o = run_worker(nullptr, "echo", big);
  EXPECT_EQ(o.result.value("echo", ""), big);
}

TEST(Worker, ChildHasOnlyFdsZeroToFour) {
  // A descriptor the parent opened without O_CLOEXEC must not reach the child.
  const int leaked = ::open("/dev/null", O_RDONLY);
  const Outcome o = run_worker(nullptr, "list-fds");
  ::close(leaked);
  EXPECT_EQ(o.result.value("fds", json()), json({0, 1, 2, 3, 4}));
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Worker, ChildStdoutGoesToTheParentsStderr) {
  TempDir dir;
  const std::string out = (dir.path() / "stdout").string(), err = (dir.path() / "stderr").string();
  std::fflush(stdout);
  std::fflush(stderr);
  const int saved_out = ::dup(1), saved_err = ::dup(2);
  const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ::dup2(out_fd, 1);
  ::dup2(err_fd, 2);
  const Outcome o = run_worker(nullptr, "print-stdout", "printed by the model");
  ::dup2(saved_out, 1);
  ::dup2(saved_err, 2);
  for (int fd : {saved_out, saved_err, out_fd, err_fd}) ::close(fd);
  EXPECT_EQ(o.result.value("ok", false), true);
  EXPECT_EQ(slurp(out), "") << "the child's print() reached the parent's stdout";
  EXPECT_EQ(slurp(err), "printed by the model\n");
}

TEST(Worker, ChildStdinIsDevNull) {
  const Outcome o = run_worker(nullptr, "read-file", "/proc/self/fd/0");
  EXPECT_EQ(o.result.value("content", "x"), "");
}

TEST(Worker, MissingProgramThrowsWithTheReason) {
  try {
    Worker::spawn({"/nonexistent/modelgate-worker"});
    FAIL() << "spawn succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos) << e.what();
  }
}

TEST(Worker, SendToAnEndedChildThrows) {
  Worker w = started("exit", 0);
  EXPECT_EQ(w.next(10).kind, Event::Kind::exited);
  EXPECT_THROW(w.send({{"more", 1}}), std::runtime_error);
}

TEST(Worker, DescribeNamesOtherSignals) {
  Event e{Event::Kind::crashed, nullptr};
  e.signal = SIGABRT;
  EXPECT_EQ(e.describe(), "killed by SIGABRT (aborted)");
  e.signal = SIGKILL;
  EXPECT_NE(e.describe().find("SIGKILL"), std::string::npos);
  Event t{Event::Kind::timed_out, nullptr};
  t.waited_seconds = 30;
  EXPECT_EQ(t.describe(), "no reply within 30 s");
}

}  // namespace
}  // namespace modelgate::engine::isolation
