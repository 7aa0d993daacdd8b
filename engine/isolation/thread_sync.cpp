// Landlock has no "all threads" flag at ABI 7 (seccomp has TSYNC), so each thread that already
// runs restricts itself from a signal handler, the way libpsx and Go's AllThreadsSyscall reach
// every thread.
#include "engine/isolation/landlock.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include <dirent.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace modelgate::engine::isolation::detail {
namespace {

// A signal handler reaches only process-wide state. confine() runs once per process and sends
// one signal at a time, so these three are written by one handler at a time.
std::atomic<int> g_ruleset_fd{-1};
std::atomic<int> g_answers{0};
std::atomic<int> g_errno{0};

void on_restrict_signal(int) {
  const int saved = errno;
  int e = 0;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      ::syscall(SYS_landlock_restrict_self, g_ruleset_fd.load(), 0U) != 0)
    e = errno;
  g_errno.store(e);
  g_answers.fetch_add(1);
  errno = saved;
}

std::set<pid_t> thread_ids() {
  std::set<pid_t> tids;
  DIR* dir = ::opendir("/proc/self/task");
  if (!dir) throw std::runtime_error(std::string("Landlock: cannot list /proc/self/task: ") + std::strerror(errno));
  while (const dirent* entry = ::readdir(dir))
    if (entry->d_name[0] != '.') tids.insert(static_cast<pid_t>(std::stol(entry->d_name)));
  ::closedir(dir);
  return tids;
}

std::string task_file(pid_t tid, const char* name) {
  return "/proc/self/task/" + std::to_string(tid) + "/" + name;
}

// From the thread's SigBlk line; a thread that exited meanwhile reads as not blocking.
bool blocks_signal(pid_t tid, int sig) {
  std::ifstream status(task_file(tid, "status"));
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("SigBlk:", 0) == 0) {
      const unsigned long long mask = std::stoull(line.substr(7), nullptr, 16);
      return (mask >> (sig - 1)) & 1ULL;
    }
  return false;
}

bool thread_exists(pid_t tid) { return ::access(task_file(tid, "status").c_str(), F_OK) == 0; }

std::string thread_name(pid_t tid) {
  std::ifstream comm(task_file(tid, "comm"));
  std::string name;
  std::getline(comm, name);
  return name;
}

}  // namespace

int restrict_other_threads(int ruleset_fd) {
  const int sig = SIGRTMIN + 4;
  const pid_t pid = ::getpid(), self = static_cast<pid_t>(::syscall(SYS_gettid));
  g_ruleset_fd = ruleset_fd;

  struct sigaction action, previous;
  std::memset(&action, 0, sizeof(action));
  action.sa_handler = on_restrict_signal;
  sigfillset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  if (::sigaction(sig, &action, &previous) != 0)
    throw std::runtime_error(std::string("Landlock: cannot install the thread signal handler: ") + std::strerror(errno));

  std::set<pid_t> done{self};
  int unreachable = 0;
  // A thread started by a not-yet-restricted thread appears in /proc/self/task before its
  // creator answers, so listing again until nothing is new reaches all of them.
  for (bool found = true; found;) {
    found = false;
    for (const pid_t tid : thread_ids()) {
      if (!done.insert(tid).second) continue;
      found = true;
      if (blocks_signal(tid, sig)) {
        ++unreachable;
        continue;
      }
      const int before = g_answers.load();
      if (::syscall(SYS_tgkill, pid, tid, sig) != 0) {
        if (errno == ESRCH) continue;  // it ended meanwhile
        throw std::runtime_error("Landlock: cannot signal thread " + std::to_string(tid) + ": " + std::strerror(errno));
      }
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      while (g_answers.load() == before) {
        if (std::chrono::steady_clock::now() > deadline) {
          if (!thread_exists(tid)) break;
          // The handler stays installed: the signal is still pending for that thread, and the
          // previous disposition (for a real-time signal, usually "terminate") must not meet it.
          throw std::runtime_error("Landlock: thread " + std::to_string(tid) + " (" + thread_name(tid) +
                                   ") did not take the rules within 2 s");
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      if (g_answers.load() != before && g_errno.load() != 0)
        throw std::runtime_error("Landlock: thread " + std::to_string(tid) + " (" + thread_name(tid) +
                                 ") could not restrict itself: " + std::strerror(g_errno.load()));
    }
  }
  ::sigaction(sig, &previous, nullptr);
  return unreachable;
}

}  // namespace modelgate::engine::isolation::detail
