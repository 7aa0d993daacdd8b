#pragma once
// The parent's half: start the model worker, talk to it over a Channel, and learn how it ended.
//
// The contract for the child, as spawn() sets it up:
//   fd 0  /dev/null
//   fd 1  the parent's stderr (a model's print() must never reach the parent's stdout, which may
//         carry a report)
//   fd 2  the parent's stderr
//   fd 3  requests from the parent; fd 4  messages to the parent (child_channel() wraps both)
//   no other descriptor is open; the signal mask is empty and every disposition the default;
//   PR_SET_PDEATHSIG is SIGKILL, so the child never outlives the parent.
// The parent learns how the child ended (exit status or signal) from wait4, not from the child.
#include "engine/isolation/channel.h"

#include <atomic>
#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelgate::engine::isolation {

/// How waiting for the child's next message ended.
struct Event {
  enum class Kind { message, timed_out, exited, crashed } kind;
  nlohmann::json message;   ///< kind == message
  int exit_code = 0;        ///< kind == exited
  int signal = 0;           ///< kind == crashed: the signal that ended it (SIGSEGV, SIGKILL (e.g. OOM), SIGXCPU (cpu limit), SIGABRT)
  double waited_seconds = 0;  ///< kind == timed_out: the timeout that ran out
  std::string describe() const;  ///< one line: "exited with status 3", "killed by SIGSEGV (segmentation fault)", "CPU-time limit reached (SIGXCPU)", "no reply within 30 s"
};

/// A running (or ended, not yet destroyed) model worker process. Move-only.
class Worker {
 public:
  /// Starts `argv[0]` with `argv` (execv, no shell, no PATH search), its stdin /dev/null, stdout
  /// redirected to the parent's stderr, stderr inherited; requests on fd 3, messages from it on
  /// fd 4 (see the contract above). All other fds are closed in the child (close_range).
  /// The child gets PR_SET_PDEATHSIG SIGKILL (and checks getppid() after setting it). The kernel
  /// ties that signal to the spawning *thread*: spawn from a thread that outlives the child.
  /// Throws std::runtime_error when the program cannot be started (naming it and the errno).
  static Worker spawn(const std::vector<std::string>& argv);
  ~Worker();  ///< kills (SIGKILL) and reaps a child still running
  Worker(Worker&& other) noexcept;
  Worker& operator=(Worker&& other) noexcept;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// Sends one request frame; throws std::runtime_error when the child has closed fd 3 or ended.
  void send(const nlohmann::json& request);
  /// Waits up to `timeout_seconds` (infinity: no limit) for the next message (poll on the fd +
  /// wait4). A child that exits or is killed returns exited/crashed (after draining any frames it
  /// wrote first; every later call returns the same event); on timed_out the child is still
  /// running (the caller decides: kill()). Throws std::runtime_error when the child sends a
  /// frame that is oversized or not JSON (the caller should kill() it).
  /// `interrupt` (may be null): polled every 100 ms; when it becomes non-zero the child is sent that
  /// signal number once (forwarding SIGTERM), and waiting goes on.
  Event next(double timeout_seconds, const std::atomic<int>* interrupt = nullptr);
  /// SIGKILL and reap; nothing when the child has already been reaped.
  void kill();
  /// The child's process id (stays valid as a number after it was reaped; never signalled then).
  pid_t pid() const { return pid_; }
  /// Peak resident memory of the (reaped) child from wait4's rusage, bytes; 0 before it ended.
  int64_t peak_rss_bytes() const { return peak_rss_bytes_; }

 private:
  Worker(pid_t pid, Channel channel) : pid_(pid), channel_(std::move(channel)) {}
  bool reap(bool block);  // true once the child has been reaped
  Event ended_event() const;

  pid_t pid_ = -1;
  Channel channel_;
  bool reaped_ = false;
  int status_ = 0;
  int64_t peak_rss_bytes_ = 0;
  bool interrupt_forwarded_ = false;
};

/// In the child: the channel on fds 3 (requests) and 4 (messages), as Worker::spawn sets them up.
Channel child_channel();

}  // namespace modelgate::engine::isolation
