#include "engine/report/files.h"

#include "engine/errors.h"
#include "engine/signals.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <chrono>
#include <cstring>

namespace modelgate::engine {
namespace fs = std::filesystem;

std::string utc_now_iso() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(now)), ms);
}

std::optional<double> epoch_seconds(const std::string& iso) {
  std::tm tm{};
  double sec = 0;
  int used = 0;
  if (std::sscanf(iso.c_str(), "%4d-%2d-%2dT%2d:%2d:%lfZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &sec, &used) != 6 || used != static_cast<int>(iso.size()))
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(timegm(&tm)) + sec;
}

std::string job_file_stem(const std::string& job) {
  std::string safe;
  for (char c : job) safe += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return safe.empty() ? "report" : safe;
}

fs::path timestamped_report_path(const fs::path& dir, const std::string& job, const std::vector<std::string>& extensions) {
  const auto stamp = fmt::format("{:%Y%m%dT%H%M%SZ}", fmt::gmtime(std::time(nullptr)));
  const auto safe = job_file_stem(job);
  auto taken = [&](const std::string& stem) {
    for (const auto& ext : extensions)
      if (fs::exists(dir / (stem + ext))) return true;
    return fs::exists(dir / (stem + ".json"));
  };
  std::string stem = fmt::format("{}-{}", safe, stamp);
  for (int i = 1; taken(stem); ++i) stem = fmt::format("{}-{}-{}", safe, stamp, i);
  return dir / (stem + ".json");
}

void write_atomically(const fs::path& path, const std::string& content, unsigned mode) {
  const auto dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw RunError(fmt::format("{}: cannot create report folder: {}", dir.string(), ec.message()));
  const CriticalWrite critical;
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = mkstemp(tmpl.data());
  if (fd < 0) throw RunError(fmt::format("{}: cannot create a temporary report file: {}", dir.string(), std::strerror(errno)));
  auto fail = [&](const std::string& what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmpl.c_str());
    throw RunError(fmt::format("{}: {}: {}", path.string(), what, std::strerror(err)));
  };
  size_t done = 0;
  while (done < content.size()) {
    const auto n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write report");
    }
    done += static_cast<size_t>(n);
  }
  // mkstemp creates 0600; reports are for other tools to read, private keys stay 0600.
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0 || ::fsync(fd) != 0) fail("cannot flush report");
  if (::close(fd) != 0) {
    ::unlink(tmpl.c_str());
    throw RunError(fmt::format("{}: cannot close report: {}", path.string(), std::strerror(errno)));
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmpl.c_str());
    throw RunError(fmt::format("{}: cannot move report into place: {}", path.string(), std::strerror(err)));
  }
}

namespace {

const char* kind_of(const struct stat& st) {
  if (S_ISDIR(st.st_mode)) return "a directory";
  if (S_ISFIFO(st.st_mode)) return "a FIFO";
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return "a device";
  if (S_ISSOCK(st.st_mode)) return "a socket";
  return nullptr;
}

}  // namespace

void check_output_path(const fs::path& path, const std::string& what, const std::vector<fs::path>& inputs) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (const char* kind = kind_of(st))
      throw InputError(fmt::format("{}: the {} output is {}; expected a regular file path", path.string(), what, kind));
    for (const auto& in : inputs) {
      std::error_code ec;
      if (!in.empty() && fs::equivalent(path, in, ec))
        throw InputError(fmt::format("{}: the {} output is also an input of this run ({}); it would be overwritten",
                                     path.string(), what, in.string()));
    }
  }
  // The folder is made only when the output is written; until then, the nearest folder that
  // exists must take new files (the missing ones are made in it).
  fs::path dir = fs::absolute(path).parent_path();
  std::error_code ec;
  while (!fs::exists(dir, ec) && dir.has_relative_path()) dir = dir.parent_path();
  if (!fs::is_directory(dir, ec))
    throw InputError(fmt::format("{}: the folder of the {} output cannot be made: {} is not a directory",
                                 path.string(), what, dir.string()));
  const fs::path probe = dir / fmt::format(".modelgate-probe-{}", ::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    throw InputError(fmt::format("{}: the {} output cannot be written: {} does not take new files ({})", path.string(),
                                 what, dir.string(), std::strerror(errno)));
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace modelgate::engine
