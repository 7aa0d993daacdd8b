#pragma once
// One run of a job at a time: an advisory lock (flock) on a file in the job's report folder.
// The kernel drops the lock when the process ends, however it ends, so a crashed run never
// leaves a stale lock behind; a run that ends normally also deletes the lock file.
#include <filesystem>
#include <string>

namespace modelgate::engine {

/// Holds the lock of one job until destroyed.
class RunLock {
 public:
  /// Takes the lock of job `job` in `dir` (created if missing) without waiting. Throws RunError
  /// naming the process that holds it (pid and start time, from the lock file) when another run
  /// of the same job is under way, and RunError when the folder cannot hold a lock file.
  RunLock(const std::filesystem::path& dir, const std::string& job);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace modelgate::engine
