#include "engine/signals.h"

#include "engine/errors.h"

#include <csignal>
#include <cstring>
#include <unistd.h>

namespace modelgate::engine {
namespace {

// A signal handler can only reach process-wide state; these three atomics are all of it.
std::atomic<int> g_first_signal{0};
std::atomic<int> g_open_writes{0};
std::atomic<bool> g_exit_requested{false};

void leave() {
  const char msg[] = "modelgate: error: second termination signal: exiting without a report\n";
  [[maybe_unused]] const auto n = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
  ::_exit(kRunFailure);
}

void on_termination(int sig) {
  int expected = 0;
  if (g_first_signal.compare_exchange_strong(expected, sig)) return;
  g_exit_requested = true;
  if (g_open_writes.load() == 0) leave();  // only async-signal-safe calls in leave()
}

}  // namespace

const std::atomic<int>& install_termination_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_termination;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  return g_first_signal;
}

CriticalWrite::CriticalWrite() { ++g_open_writes; }

CriticalWrite::~CriticalWrite() {
  if (--g_open_writes == 0 && g_exit_requested) leave();
}

}  // namespace modelgate::engine
