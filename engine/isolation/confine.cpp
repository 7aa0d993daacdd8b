#include "engine/isolation/confine.h"

#include "engine/isolation/landlock.h"
#include "engine/isolation/seccomp_filter.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

#include <sys/prctl.h>
#include <sys/resource.h>

namespace modelgate::engine::isolation {
namespace {

std::string format_bytes(uint64_t bytes) {
  char text[32];
  if (bytes >= (1ULL << 30))
    std::snprintf(text, sizeof(text), "%.1f GiB", static_cast<double>(bytes) / (1ULL << 30));
  else
    std::snprintf(text, sizeof(text), "%.1f MiB", static_cast<double>(bytes) / (1ULL << 20));
  return text;
}

// VmSize: what the process has mapped now (its runtime, thread stacks, heap), in bytes.
uint64_t mapped_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmSize:", 0) == 0) return std::stoull(line.substr(7)) * 1024;  // "VmSize:  1234 kB"
  throw std::runtime_error("memory limit: no VmSize line in /proc/self/status");
}

void set_limit(int resource, rlim_t soft, rlim_t hard, const char* name) {
  const rlimit limit{soft, hard};
  if (::setrlimit(resource, &limit) != 0)
    throw std::runtime_error(std::string("cannot set ") + name + ": " + std::strerror(errno));
}

}  // namespace

Applied confine(const Policy& policy) {
  Applied applied;
  const KernelSupport kernel = probe();

  if (policy.memory_bytes) {
    const uint64_t base = mapped_bytes();
    const uint64_t limit = base + *policy.memory_bytes;
    // Soft and hard alike: the child must not be able to raise it again.
    set_limit(RLIMIT_AS, limit, limit, "RLIMIT_AS");
    applied.memory = "address space limited to " + format_bytes(*policy.memory_bytes) + " above " +
                     format_bytes(base) + " mapped at start";
  } else {
    applied.memory = "no memory limit";
  }
  if (policy.cpu_seconds) {
    const auto seconds = static_cast<rlim_t>(std::max(1.0, std::ceil(*policy.cpu_seconds)));
    // The hard limit one second later is SIGKILL for a child that catches or ignores SIGXCPU.
    set_limit(RLIMIT_CPU, seconds, seconds + 1, "RLIMIT_CPU");
    applied.cpu = "CPU time limited to " + std::to_string(seconds) + " s";
  } else {
    applied.cpu = "no CPU-time limit";
  }
  // A core file would copy the model's (and the runtime's) memory onto disk.
  set_limit(RLIMIT_CORE, 0, 0, "RLIMIT_CORE");

  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    throw std::runtime_error(std::string("cannot set PR_SET_NO_NEW_PRIVS: ") + std::strerror(errno));

  if (kernel.landlock_abi > 0) {
    const auto outcome = detail::apply_landlock(policy, kernel.landlock_abi);
    applied.landlock = outcome.statement;
    applied.landlock_unconfined_threads = outcome.unconfined_threads;
    applied.landlock_applied = true;
  } else {
    applied.landlock = "Landlock not available (" + kernel.landlock_reason + "): not applied";
  }
  if (kernel.seccomp) {
    applied.seccomp = detail::apply_seccomp(policy);
    applied.seccomp_applied = true;
  } else {
    applied.seccomp = "seccomp not available: not applied";
  }
  return applied;
}

}  // namespace modelgate::engine::isolation
