#pragma once
// SIGTERM and SIGINT, as cron, systemd, Kubernetes and Slurm send them before killing a job.
#include <atomic>

namespace modelgate::engine {

/// Installs handlers for SIGTERM and SIGINT. The first signal is stored (its number) in the
/// returned flag, which the run checks at every batch boundary so that it can stop and write a
/// partial report; a second signal ends the process at once with exit code 4, except while a
/// CriticalWrite is open, when the exit waits for it to close, so that no half-written file or
/// temporary is left behind. Call once, from the process entry.
const std::atomic<int>& install_termination_handlers();

/// While one exists, a second termination signal does not end the process; it ends when the
/// last one is destroyed. Held by write_atomically around the write and the rename.
class CriticalWrite {
 public:
  CriticalWrite();
  ~CriticalWrite();
  CriticalWrite(const CriticalWrite&) = delete;
  CriticalWrite& operator=(const CriticalWrite&) = delete;
};

}  // namespace modelgate::engine
