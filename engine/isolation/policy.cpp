#include "engine/isolation/policy.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace modelgate::engine::isolation {
namespace {

using nlohmann::json;

std::vector<std::filesystem::path> paths_from(const json& j, const char* field) {
  std::vector<std::filesystem::path> out;
  if (!j.contains(field) || j.at(field).is_null()) return out;
  if (!j.at(field).is_array()) throw std::runtime_error(std::string("policy.") + field + ": expected an array of paths");
  for (const auto& p : j.at(field)) {
    if (!p.is_string()) throw std::runtime_error(std::string("policy.") + field + ": expected path strings");
    out.emplace_back(p.get<std::string>());
  }
  return out;
}

json paths_to(const std::vector<std::filesystem::path>& paths) {
  json out = json::array();
  for (const auto& p : paths) out.push_back(p.string());
  return out;
}

const json& field(const json& j, const char* name) {
  if (!j.is_object() || !j.contains(name)) throw std::runtime_error(std::string("applied: missing field ") + name);
  return j.at(name);
}

}  // namespace

json Policy::to_json() const {
  return {{"read_paths", paths_to(read_paths)},
          {"device_paths", paths_to(device_paths)},
          {"memory_bytes", memory_bytes ? json(*memory_bytes) : json(nullptr)},
          {"cpu_seconds", cpu_seconds ? json(*cpu_seconds) : json(nullptr)},
          {"allow_writes", allow_writes}};
}

Policy Policy::from_json(const json& j) {
  if (!j.is_object()) throw std::runtime_error("policy: expected an object");
  Policy p;
  p.read_paths = paths_from(j, "read_paths");
  p.device_paths = paths_from(j, "device_paths");
  if (j.contains("memory_bytes") && !j.at("memory_bytes").is_null()) {
    if (!j.at("memory_bytes").is_number_unsigned())
      throw std::runtime_error("policy.memory_bytes: expected a non-negative integer");
    p.memory_bytes = j.at("memory_bytes").get<uint64_t>();
  }
  if (j.contains("cpu_seconds") && !j.at("cpu_seconds").is_null()) {
    const auto& v = j.at("cpu_seconds");
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() <= 0)
      throw std::runtime_error("policy.cpu_seconds: expected a positive number");
    p.cpu_seconds = v.get<double>();
  }
  if (j.contains("allow_writes")) {
    if (!j.at("allow_writes").is_boolean()) throw std::runtime_error("policy.allow_writes: expected true or false");
    p.allow_writes = j.at("allow_writes").get<bool>();
  }
  return p;
}

json Applied::to_json() const {
  return {{"landlock", landlock},
          {"seccomp", seccomp},
          {"memory", memory},
          {"cpu", cpu},
          {"landlock_applied", landlock_applied},
          {"seccomp_applied", seccomp_applied},
          {"landlock_unconfined_threads", landlock_unconfined_threads}};
}

Applied Applied::from_json(const json& j) {
  Applied a;
  try {
    a.landlock = field(j, "landlock").get<std::string>();
    a.seccomp = field(j, "seccomp").get<std::string>();
    a.memory = field(j, "memory").get<std::string>();
    a.cpu = field(j, "cpu").get<std::string>();
    a.landlock_applied = field(j, "landlock_applied").get<bool>();
    a.seccomp_applied = field(j, "seccomp_applied").get<bool>();
    a.landlock_unconfined_threads = field(j, "landlock_unconfined_threads").get<int>();
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("applied: ") + e.what());
  }
  return a;
}

KernelSupport probe() {
  KernelSupport k;
  // Flag LANDLOCK_CREATE_RULESET_VERSION (1) with no attributes returns the ABI version.
  const long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, 1U);
  if (abi > 0) {
    k.landlock_abi = static_cast<int>(abi);
  } else if (errno == ENOSYS) {
    k.landlock_reason = "ENOSYS: kernel built without Landlock";
  } else if (errno == EOPNOTSUPP) {
    k.landlock_reason = "EOPNOTSUPP: Landlock disabled at boot";
  } else {
    k.landlock_reason = std::string(strerrorname_np(errno) ? strerrorname_np(errno) : "error") + ": " +
                        std::strerror(errno);
  }
  // Asking whether the filter's errno action exists answers "is filter mode there" without
  // installing anything; kernels before 4.14 lack the query, so fall back to the mode itself.
  uint32_t action = SECCOMP_RET_ERRNO;
  if (::syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0)
    k.seccomp = true;
  else
    k.seccomp = errno != ENOSYS && ::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0;
  return k;
}

}  // namespace modelgate::engine::isolation
