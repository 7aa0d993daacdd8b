#pragma once
// What the model worker may do once it has confined itself, and what confine() really put in
// place. Plain data with a JSON form: the parent builds a Policy, sends it in the worker's
// request, and the worker sends the Applied back for the report.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelgate::engine::isolation {

/// What the child may do. Paths may be files or folders; missing paths are ignored.
struct Policy {
  std::vector<std::filesystem::path> read_paths;   ///< readable (and, for folders, everything below)
  std::vector<std::filesystem::path> device_paths; ///< read-write device nodes (/dev/nvidia*, on CUDA)
  std::optional<uint64_t> memory_bytes;  ///< address-space limit above what the child has mapped when confine() runs
  std::optional<double> cpu_seconds;     ///< RLIMIT_CPU (the kernel sends SIGXCPU past it)
  bool allow_writes = false;             ///< false: no file may be opened for writing, created, renamed, removed, ...

  /// {"read_paths": [...], "device_paths": [...], "memory_bytes": n|null, "cpu_seconds": x|null,
  /// "allow_writes": b}.
  nlohmann::json to_json() const;
  /// The inverse of to_json(); absent keys keep their defaults. Throws std::runtime_error naming
  /// the field when a value has the wrong type or is out of range.
  static Policy from_json(const nlohmann::json& j);
};

/// What confine() actually put in place, for the report and --help: every field a one-line, true statement.
struct Applied {
  std::string landlock;   ///< e.g. "Landlock ABI 7: reads limited to 12 paths, no writes" or "not available (ENOSYS): not applied"
  std::string seccomp;    ///< e.g. "seccomp: no network, no new processes, no writes, no ptrace"
  std::string memory;     ///< e.g. "address space limited to 1.0 GiB above 2.3 GiB mapped at start" or "no memory limit"
  std::string cpu;        ///< "CPU time limited to 600 s" or "no CPU-time limit"
  bool landlock_applied = false, seccomp_applied = false;
  /// Threads that existed before confine() and could not take the Landlock rules (they block
  /// the signal confine() uses to reach them); 0 when every thread is confined. Seccomp reaches
  /// all threads regardless.
  int landlock_unconfined_threads = 0;

  /// All fields, under their own names.
  nlohmann::json to_json() const;
  /// The inverse of to_json(); throws std::runtime_error when a field is missing or mistyped.
  static Applied from_json(const nlohmann::json& j);
};

/// What this kernel offers (without applying anything): Landlock ABI version or 0, seccomp yes/no.
struct KernelSupport {
  int landlock_abi = 0;  ///< 0 when Landlock is absent or disabled
  bool seccomp = false;  ///< seccomp filter mode is available
  /// Why Landlock is absent ("ENOSYS: kernel built without Landlock", "EOPNOTSUPP: disabled at
  /// boot"); empty when it is present.
  std::string landlock_reason;
};

/// Asks the kernel what it supports; changes nothing in the calling process.
KernelSupport probe();

}  // namespace modelgate::engine::isolation
