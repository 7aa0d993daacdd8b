#include "engine/isolation/landlock.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace modelgate::engine::isolation::detail {
namespace {

// The installed <linux/landlock.h> may be older than the running kernel (Debian 12 ships ABI 2's
// header); these are the ABI's fixed values, so they are spelled out here.
constexpr uint64_t kFsExecute = 1ULL << 0, kFsWriteFile = 1ULL << 1, kFsReadFile = 1ULL << 2,
                   kFsReadDir = 1ULL << 3, kFsRefer = 1ULL << 13, kFsTruncate = 1ULL << 14,
                   kFsIoctlDev = 1ULL << 15;
constexpr uint64_t kFsAbi1 = (1ULL << 13) - 1;  // EXECUTE .. MAKE_SYM
constexpr uint64_t kNetBindTcp = 1ULL << 0, kNetConnectTcp = 1ULL << 1;
constexpr uint64_t kScopeAbstractUnixSocket = 1ULL << 0, kScopeSignal = 1ULL << 1;
// Rights that make sense on a file (rather than a folder); the kernel refuses others there.
constexpr uint64_t kFileRights = kFsExecute | kFsWriteFile | kFsReadFile | kFsTruncate | kFsIoctlDev;
constexpr uint64_t kRead = kFsExecute | kFsReadFile | kFsReadDir;
// The newest ABI whose rights this file knows; a newer kernel is used at this level.
constexpr int kNewestKnownAbi = 7;

// landlock_ruleset_attr as of ABI 6; the size passed tells the kernel which fields we mean.
struct RulesetAttr {
  uint64_t handled_access_fs = 0, handled_access_net = 0, scoped = 0;
};

struct PathBeneath {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));

std::string errno_text(int e) {
  const char* name = strerrorname_np(e);
  return std::string(name ? name : "error") + ": " + std::strerror(e);
}

class Ruleset {
 public:
  Ruleset(int abi, bool allow_writes) {
    handled_ = kFsAbi1;
    if (abi >= 2) handled_ |= kFsRefer;
    if (abi >= 3) handled_ |= kFsTruncate;
    if (abi >= 5) handled_ |= kFsIoctlDev;
    // With writes allowed, only the read rights (and device ioctls) are handled, so the kernel
    // leaves every write right alone.
    if (allow_writes) handled_ &= kRead | kFsIoctlDev;
    RulesetAttr attr;
    attr.handled_access_fs = handled_;
    size_t size = sizeof(uint64_t);
    if (abi >= 4) {
      attr.handled_access_net = kNetBindTcp | kNetConnectTcp;
      size = 2 * sizeof(uint64_t);
    }
    if (abi >= 6) {
      attr.scoped = kScopeAbstractUnixSocket | kScopeSignal;
      size = sizeof(attr);
    }
    fd_ = static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, size, 0U));
    if (fd_ < 0) throw std::runtime_error("Landlock: cannot create a ruleset (" + errno_text(errno) + ")");
  }
  ~Ruleset() {
    if (fd_ >= 0) ::close(fd_);
  }
  Ruleset(const Ruleset&) = delete;
  Ruleset& operator=(const Ruleset&) = delete;

  int fd() const { return fd_; }
  /// Leaves the descriptor open for good (a thread may still restrict itself with it later).
  void keep_open() { fd_ = -1; }
  uint64_t handled() const { return handled_; }

  /// Allows `access` (what of it this ABI handles) below `path`; false when the path is missing.
  bool allow(const std::filesystem::path& path, uint64_t access) {
    const int fd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR) return false;
      throw std::runtime_error("Landlock: cannot open " + path.string() + " (" + errno_text(errno) + ")");
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      const int e = errno;
      ::close(fd);
      throw std::runtime_error("Landlock: cannot stat " + path.string() + " (" + errno_text(e) + ")");
    }
    if (!S_ISDIR(st.st_mode)) access &= kFileRights;
    PathBeneath rule{access & handled_, fd};
    const long rc = ::syscall(SYS_landlock_add_rule, fd_, LANDLOCK_RULE_PATH_BENEATH, &rule, 0U);
    const int e = errno;
    ::close(fd);
    if (rc != 0) throw std::runtime_error("Landlock: cannot add a rule for " + path.string() + " (" + errno_text(e) + ")");
    return true;
  }

 private:
  int fd_ = -1;
  uint64_t handled_ = 0;
};

}  // namespace

std::vector<std::filesystem::path> mapped_code_folders() {
  std::ifstream maps("/proc/self/maps");
  std::set<std::filesystem::path> folders;
  std::string line;
  while (std::getline(maps, line)) {
    // address perms offset dev inode [path]
    std::istringstream fields(line);
    std::string address, perms, offset, dev, inode;
    fields >> address >> perms >> offset >> dev >> inode;
    std::string path;
    std::getline(fields >> std::ws, path);
    if (perms.size() < 3 || perms[2] != 'x' || path.empty() || path[0] != '/') continue;
    if (path.size() > 10 && path.compare(path.size() - 10, 10, " (deleted)") == 0) continue;
    folders.insert(std::filesystem::path(path).parent_path());
  }
  return {folders.begin(), folders.end()};
}

LandlockOutcome apply_landlock(const Policy& policy, int kernel_abi) {
  const int abi = std::min(kernel_abi, kNewestKnownAbi);
  Ruleset ruleset(abi, policy.allow_writes);
  int readable = 0, from_policy = 0, devices = 0;
  for (const auto& p : policy.read_paths)
    if (ruleset.allow(p, kRead)) ++readable, ++from_policy;
  // What a loaded runtime still reads: lazily dlopen()ed libraries, the loader's cache, CPU and
  // memory detection (ATen, OpenMP, oneDNN read these), and its own mapped code's folders.
  static const char* const kSystemReads[] = {
      "/usr", "/lib", "/lib64", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
      "/proc/self", "/proc/cpuinfo", "/proc/meminfo", "/sys/devices/system/cpu", "/sys/fs/cgroup",
      "/dev/urandom", "/dev/zero"};
  for (const char* p : kSystemReads)
    if (ruleset.allow(p, kRead)) ++readable;
  for (const auto& folder : mapped_code_folders())
    if (ruleset.allow(folder, kRead)) ++readable;
  // O_TRUNC on /dev/null is how shells and loggers open it; truncating it does nothing.
  ruleset.allow("/dev/null", kFsReadFile | kFsWriteFile | kFsTruncate);
  for (const auto& p : policy.device_paths)
    if (ruleset.allow(p, kFsReadFile | kFsWriteFile | kFsIoctlDev | kFsReadDir)) ++devices;

  LandlockOutcome out;
  out.unconfined_threads = restrict_other_threads(ruleset.fd());
  if (::syscall(SYS_landlock_restrict_self, ruleset.fd(), 0U) != 0)
    throw std::runtime_error("Landlock: cannot restrict the process (" + errno_text(errno) + ")");
  if (out.unconfined_threads > 0) ruleset.keep_open();

  std::string s = "Landlock ABI " + std::to_string(abi);
  if (kernel_abi != abi) s += " (the kernel has " + std::to_string(kernel_abi) + ")";
  s += ": file reads limited to " + std::to_string(readable) +
                  " paths (" + std::to_string(from_policy) + " from the policy, the rest system and runtime files)";
  s += policy.allow_writes ? ", writes not limited" : ", no file writes except /dev/null";
  if (devices > 0) s += ", " + std::to_string(devices) + " device path(s) read-write";
  if (abi >= 4) s += ", no TCP bind or connect";
  if (abi >= 6) s += ", no signals or abstract unix sockets beyond this process";
  if (out.unconfined_threads > 0)
    s += "; " + std::to_string(out.unconfined_threads) +
         " thread(s) started before confinement block signals and are not Landlock-confined";
  out.statement = s;
  return out;
}

}  // namespace modelgate::engine::isolation::detail
