#include "engine/isolation/worker.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace modelgate::engine::isolation {
namespace {

constexpr int kRequestFd = 3, kMessageFd = 4, kExecErrorFd = 5;

// Tells the parent why the child could not start, then ends the child.
[[noreturn]] void fail_in_child(int error_fd, int e) {
  [[maybe_unused]] ssize_t n = ::write(error_fd, &e, sizeof(e));
  ::_exit(127);
}

// Between fork and execv only async-signal-safe calls: the parent may have other threads, and
// one of them may have held the malloc lock at the fork.
[[noreturn]] void run_child(char* const* argv, pid_t parent, int devnull, int request_fd, int message_fd,
                            int error_fd, bool stderr_usable) {
  auto die = [error_fd](int e) { fail_in_child(error_fd, e); };
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) die(errno);
  if (::getppid() != parent) ::_exit(127);  // the parent died before the line above
  // Copies above the target numbers first, so that no dup2 below overwrites a source.
  const int in = ::fcntl(devnull, F_DUPFD, 10), req = ::fcntl(request_fd, F_DUPFD, 10),
            msg = ::fcntl(message_fd, F_DUPFD, 10), err = ::fcntl(error_fd, F_DUPFD, 10);
  if (in < 0 || req < 0 || msg < 0 || err < 0) die(errno);
  if (::dup2(in, 0) < 0 || ::dup2(stderr_usable ? 2 : in, 1) < 0 || (!stderr_usable && ::dup2(in, 2) < 0) ||
      ::dup2(req, kRequestFd) < 0 || ::dup2(msg, kMessageFd) < 0 || ::dup2(err, kExecErrorFd) < 0 ||
      ::fcntl(kExecErrorFd, F_SETFD, FD_CLOEXEC) < 0)
    die(errno);
  if (::syscall(SYS_close_range, kExecErrorFd + 1, ~0U, 0) != 0) {
    rlimit files{};
    ::getrlimit(RLIMIT_NOFILE, &files);
    for (rlim_t fd = kExecErrorFd + 1; fd < files.rlim_cur && fd < (1u << 20); ++fd) ::close(static_cast<int>(fd));
  }
  // The parent's ignored signals and blocked mask would otherwise survive execv.
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execv(argv[0], argv);
  fail_in_child(kExecErrorFd, errno);
}

void close_all(std::initializer_list<int> fds) {
  for (int fd : fds)
    if (fd >= 0) ::close(fd);
}

std::string lowercase_first(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

}  // namespace

std::string Event::describe() const {
  switch (kind) {
    case Kind::message:
      return "sent a message";
    case Kind::timed_out: {
      char text[64];
      std::snprintf(text, sizeof(text), "no reply within %g s", waited_seconds);
      return text;
    }
    case Kind::exited:
      return exit_code < 0 ? "ended, its exit status unknown (already reaped elsewhere)"
                           : "exited with status " + std::to_string(exit_code);
    case Kind::crashed:
      break;
  }
  if (signal == SIGXCPU) return "CPU-time limit reached (SIGXCPU)";
  if (signal == SIGKILL) return "killed by SIGKILL (the out-of-memory killer, a hard limit or kill -9)";
  const char* abbrev = sigabbrev_np(signal);
  const char* text = sigdescr_np(signal);
  return "killed by " + (abbrev ? "SIG" + std::string(abbrev) : "signal " + std::to_string(signal)) + " (" +
         lowercase_first(text ? text : "unknown signal") + ")";
}

Worker Worker::spawn(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0].empty()) throw std::runtime_error("worker: no program to start");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  // Every descriptor is close-on-exec on the parent's side, so that a second worker (or any
  // other program the parent starts) cannot hold this worker's pipes open.
  int request[2] = {-1, -1}, message[2] = {-1, -1}, error[2] = {-1, -1};
  const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0 || ::pipe2(request, O_CLOEXEC) != 0 || ::pipe2(message, O_CLOEXEC) != 0 ||
      ::pipe2(error, O_CLOEXEC) != 0) {
    const int e = errno;
    close_all({devnull, request[0], request[1], message[0], message[1], error[0], error[1]});
    throw std::runtime_error(std::string("worker: cannot create its pipes: ") + std::strerror(e));
  }
  // A parent started with fd 2 closed has just handed that number to one of the above.
  bool stderr_usable = ::fcntl(2, F_GETFD) >= 0;
  for (int fd : {devnull, request[0], request[1], message[0], message[1], error[0], error[1]})
    stderr_usable = stderr_usable && fd != 2;

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) run_child(args.data(), parent, devnull, request[0], message[1], error[1], stderr_usable);
  const int fork_errno = errno;
  close_all({devnull, request[0], message[1], error[1]});
  if (pid < 0) {
    close_all({request[1], message[0], error[0]});
    throw std::runtime_error("worker: cannot start " + argv[0] + ": fork: " + std::strerror(fork_errno));
  }
  int child_errno = 0;
  ssize_t n;
  do n = ::read(error[0], &child_errno, sizeof(child_errno));
  while (n < 0 && errno == EINTR);
  ::close(error[0]);
  Worker worker(pid, Channel(message[0], request[1]));
  if (n == static_cast<ssize_t>(sizeof(child_errno))) {
    worker.reap(true);
    throw std::runtime_error("worker: cannot start " + argv[0] + ": " + std::strerror(child_errno));
  }
  return worker;
}

Worker::~Worker() { kill(); }

Worker::Worker(Worker&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      channel_(std::move(other.channel_)),
      reaped_(std::exchange(other.reaped_, true)),
      status_(other.status_),
      peak_rss_bytes_(other.peak_rss_bytes_),
      interrupt_forwarded_(other.interrupt_forwarded_) {}

Worker& Worker::operator=(Worker&& other) noexcept {
  if (this != &other) {
    kill();
    pid_ = std::exchange(other.pid_, -1);
    channel_ = std::move(other.channel_);
    reaped_ = std::exchange(other.reaped_, true);
    status_ = other.status_;
    peak_rss_bytes_ = other.peak_rss_bytes_;
    interrupt_forwarded_ = other.interrupt_forwarded_;
  }
  return *this;
}

void Worker::send(const nlohmann::json& request) { channel_.send(request); }

void Worker::kill() {
  if (pid_ <= 0 || reaped_) return;
  ::kill(pid_, SIGKILL);
  reap(true);
}

bool Worker::reap(bool block) {
  if (reaped_) return true;
  rusage usage{};
  int status = 0;
  pid_t r;
  do r = ::wait4(pid_, &status, block ? 0 : WNOHANG, &usage);
  while (r < 0 && errno == EINTR);
  if (r == pid_) {
    reaped_ = true;
    status_ = status;
    peak_rss_bytes_ = static_cast<int64_t>(usage.ru_maxrss) * 1024;  // ru_maxrss is in KiB
  } else if (r < 0 && errno == ECHILD) {
    // Reaped by someone else (SIGCHLD set to SIG_IGN does that): the status is gone.
    reaped_ = true;
    status_ = -1;
  }
  return reaped_;
}

Event Worker::ended_event() const {
  Event e{Event::Kind::exited, nullptr};
  if (status_ == -1) {
    e.exit_code = -1;
  } else if (WIFSIGNALED(status_)) {
    e.kind = Event::Kind::crashed;
    e.signal = WTERMSIG(status_);
  } else {
    e.exit_code = WEXITSTATUS(status_);
  }
  return e;
}

Event Worker::next(double timeout_seconds, const std::atomic<int>* interrupt) {
  using Clock = std::chrono::steady_clock;
  const bool forever = !std::isfinite(timeout_seconds);
  const auto deadline =
      forever ? Clock::time_point::max()
              : Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(std::max(0.0, timeout_seconds)));
  for (;;) {
    if (interrupt && !interrupt_forwarded_ && !reaped_) {
      if (const int sig = interrupt->load()) {
        ::kill(pid_, sig);
        interrupt_forwarded_ = true;
      }
    }
    nlohmann::json message;
    if (reaped_) {
      // Frames it wrote before it ended come first, then (every time after) how it ended.
      try {
        if (channel_.receive_within(0, message) == Channel::Status::frame) return {Event::Kind::message, message};
      } catch (const std::runtime_error&) {
        if (!channel_.at_eof()) throw;  // a frame it did write whole, but not JSON
      }
      return ended_event();
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    const int slice_ms = static_cast<int>(std::clamp<long long>(left, 0, 100));
    if (!channel_.at_eof()) {
      try {
        if (channel_.receive_within(slice_ms, message) == Channel::Status::frame)
          return {Event::Kind::message, message};
      } catch (const std::runtime_error&) {
        if (!channel_.at_eof()) throw;  // a torn frame at EOF is the child's death, found below
      }
    } else {
      // The child closed fd 4, usually on its way out: look for its end more often than that.
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(slice_ms, 10)));
    }
    if (reap(false)) continue;
    if (Clock::now() >= deadline) {
      Event e{Event::Kind::timed_out, nullptr};
      e.waited_seconds = timeout_seconds;
      return e;
    }
  }
}

Channel child_channel() {
  // Nothing the child might run should inherit the channel.
  for (int fd : {kRequestFd, kMessageFd}) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return Channel(kRequestFd, kMessageFd);
}

}  // namespace modelgate::engine::isolation
