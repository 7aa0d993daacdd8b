// Landlock has no "all threads" flag at ABI 7 (seccomp has TSYNC), so each thread that already
// runs restricts itself from a signal handler, the way libpsx and Go's AllThreadsSyscall reach
// every thread.
#include "engine/isolation/landlock.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <optional>
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

// A signal handler reaches only process-wide state. Each answering thread takes its own slot,
// so a late answer (from a thread that had the signal blocked) cannot pass for another's.
constexpr int kSlots = 4096;
struct Answer {
  std::atomic<pid_t> tid{0};
  std::atomic<int> error{0};
};
std::atomic<int> g_ruleset_fd{-1};
std::atomic<int> g_next_slot{0};
Answer g_answers[kSlots];

void on_restrict_signal(int) {
  const int saved = errno;
  int e = 0;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      ::syscall(SYS_landlock_restrict_self, g_ruleset_fd.load(), 0U) != 0)
    e = errno;
  const int slot = g_next_slot.fetch_add(1);
  if (slot < kSlots) {
    g_answers[slot].error.store(e);
    g_answers[slot].tid.store(static_cast<pid_t>(::syscall(SYS_gettid)));  // last: marks the slot done
  }
  errno = saved;
}

// The answer of thread `tid`: nullopt while it has not answered, else its errno (0: restricted).
std::optional<int> answer_of(pid_t tid) {
  const int used = std::min(g_next_slot.load(), kSlots);
  for (int i = 0; i < used; ++i)
    if (g_answers[i].tid.load() == tid) return g_answers[i].error.load();
  return std::nullopt;
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
      if (::syscall(SYS_tgkill, pid, tid, sig) != 0) {
        if (errno == ESRCH) continue;  // it ended meanwhile
        throw std::runtime_error("Landlock: cannot signal thread " + std::to_string(tid) + ": " + std::strerror(errno));
      }
      // A thread blocks every signal for a moment while it starts, so a blocked signal is sent
      // anyway and waited for; only one blocked for a quarter of a second counts as unreachable.
      const auto start = std::chrono::steady_clock::now();
      auto unblocked_at = start;
      std::optional<int> answer;
      while (!(answer = answer_of(tid))) {
        const auto now = std::chrono::steady_clock::now();
        if (!thread_exists(tid)) break;
        if (!blocks_signal(tid, sig)) {
          unblocked_at = now;
        } else if (now - unblocked_at > std::chrono::milliseconds(250)) {
          ++unreachable;
          break;
        }
        if (now - start > std::chrono::seconds(2))
          throw std::runtime_error("Landlock: thread " + std::to_string(tid) + " (" + thread_name(tid) +
                                   ") did not take the rules within 2 s");
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      if (answer && *answer != 0)
        throw std::runtime_error("Landlock: thread " + std::to_string(tid) + " (" + thread_name(tid) +
                                 ") could not restrict itself: " + std::strerror(*answer));
    }
  }
  // A signal still pending for an unreachable thread must meet this handler (and the ruleset,
  // which the caller then keeps open), never the previous disposition: for a real-time signal
  // that is usually "terminate". On a timeout above, the handler stays for the same reason.
  if (unreachable == 0) ::sigaction(sig, &previous, nullptr);
  return unreachable;
}

}  // namespace modelgate::engine::isolation::detail
