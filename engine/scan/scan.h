#pragma once
// The scan before load: what a model file holds, read without running any of it. Archives are
// listed from their central directory and checked against size, count and ratio limits before
// anything is inflated; pickles are walked opcode by opcode, never unpickled; TorchScript code
// is read as text for methods that run at load and for calls that touch files. What needs a
// loaded model (the inlined graphs) is engine/scan/graph_check.h, run in the isolated worker.
#include "engine/severity.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modelgate::engine::scan {

/// Limits a file must stay within to be scanned at all (ModelVulnerabilityScanning spec.limits).
struct ScanLimits {
  uint64_t entries = 100000;                 ///< records in an archive
  uint64_t entry_bytes = 64ull << 30;        ///< uncompressed size of one record
  uint64_t total_bytes = 256ull << 30;       ///< uncompressed size of all records
  double compression_ratio = 200;            ///< uncompressed/compressed, for records above 1 MiB
  uint64_t pickle_bytes = 256ull << 20;      ///< one pickle record (walked as it is inflated, in a small window)
  uint64_t code_bytes = 64ull << 20;         ///< all TorchScript source records together
  int64_t graph_nodes = 2000000;             ///< nodes of all inlined method graphs together
};

/// One thing the scan found. `id` is stable ("pickle/dangerous-global", "code/setstate", ...);
/// `location` names the record and, where it helps, the offset or method.
struct ScanFinding {
  std::string id;
  Severity severity = Severity::high;
  std::string location;
  std::string message;
};

/// What a model file is, as far as the scan can tell.
enum class FileFormat { torchscript, torch_save, pickle, unknown };
std::string to_string(FileFormat f);

/// The scan of one file.
struct ScanReport {
  std::string path;
  FileFormat format = FileFormat::unknown;
  uint64_t records = 0;               ///< archive records (0 for a bare pickle)
  uint64_t uncompressed_bytes = 0;    ///< as the archive declares them
  uint64_t pickles = 0;               ///< pickles walked
  std::vector<std::string> globals;   ///< distinct globals the pickles name, in order of appearance
  std::vector<ScanFinding> findings;
  std::optional<std::string> unreadable;  ///< why the file could not be scanned (neither a zip archive nor a pickle, ...)
  bool graphs_checked = false;        ///< engine/scan/graph_check ran on the loaded model
  int64_t graph_nodes = 0;
};

/// Scans `path` without loading it. Never throws for what the file holds: a file that cannot
/// be opened or is neither a zip archive nor a pickle comes back `unreadable`, with why.
ScanReport scan_file(const std::filesystem::path& path, const ScanLimits& limits = {});

/// The same scan over a file's bytes held in memory (a decrypted model), reported as `name`.
/// Nothing is written anywhere; the bytes must outlive the call only.
ScanReport scan_bytes(std::string_view bytes, const std::string& name, const ScanLimits& limits = {});

/// Whether `rest` (a record's name below the archive's one top-level folder) is one that a
/// TorchScript archive (torch.jit.save) or a torch.save zip has.
bool expected_record(const std::string& rest);

/// The worst severity among the findings, or nullopt when there are none.
std::optional<Severity> worst_severity(const std::vector<ScanFinding>& findings);

}  // namespace modelgate::engine::scan
