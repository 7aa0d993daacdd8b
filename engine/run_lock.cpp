#include "engine/run_lock.h"

#include "engine/errors.h"
#include "engine/report/files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace modelgate::engine {
namespace fs = std::filesystem;

namespace {

std::string read_holder(int fd) {
  char buf[256] = {};
  const auto n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  std::string s(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? "a process that has not written its pid yet" : s;
}

}  // namespace

RunLock::RunLock(const fs::path& dir, const std::string& job) : path_(dir / ("." + job_file_stem(job) + ".lock")) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw RunError(fmt::format("{}: cannot create the report folder: {}", dir.string(), ec.message()));
  // The holder deletes the lock file when it is done, so a run that opened the file just before
  // that may hold a lock on a name nobody finds any more: after locking, the name must still be
  // the file locked, or the lock is taken again on the new file.
  for (int attempt = 0; attempt < 16; ++attempt) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd_ < 0)
      throw RunError(fmt::format("{}: cannot open the job's lock file: {}", path_.string(), std::strerror(errno)));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      const auto holder = read_holder(fd_);
      ::close(fd_);
      fd_ = -1;
      if (err == EWOULDBLOCK)
        throw RunError(fmt::format("another run of job '{}' is under way ({}; lock {}): not starting a second one",
                                   job, holder, path_.string()));
      throw RunError(fmt::format("{}: cannot lock: {}", path_.string(), std::strerror(err)));
    }
    struct stat held {}, named {};
    if (::fstat(fd_, &held) == 0 && ::stat(path_.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
        held.st_ino == named.st_ino)
      break;
    ::close(fd_);
    fd_ = -1;
  }
  if (fd_ < 0) throw RunError(fmt::format("{}: the lock file keeps being replaced: cannot lock", path_.string()));
  const auto line = fmt::format("pid {} started {}\n", ::getpid(), utc_now_iso());
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const auto n = ::pwrite(fd_, line.data(), line.size(), 0);
  }
}

RunLock::~RunLock() {
  if (fd_ < 0) return;
  // Deleted while still held (see the constructor), so a finished run leaves nothing behind;
  // closing releases the flock. A run that dies leaves the file, but never a lock.
  ::unlink(path_.c_str());
  ::close(fd_);
}

}  // namespace modelgate::engine
