#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace modelgate::engine {

/// Current UTC time as ISO 8601 with milliseconds, e.g. 2026-11-23T17:45:01.123Z.
std::string utc_now_iso();

/// Seconds since the Unix epoch of a time utc_now_iso wrote ("YYYY-MM-DDTHH:MM:SS(.fff)Z");
/// nullopt for anything else.
std::optional<double> epoch_seconds(const std::string& iso);

/// The job's name as file names use it: letters, digits, '-', '_' and '.' kept, anything else '_'.
std::string job_file_stem(const std::string& job);

/// A new report path in `dir`: <job>-<UTC yyyymmddThhmmssZ>.json, with -1, -2… appended while
/// a file of that stem with any of `extensions` (".json" and its sibling formats) exists, so a
/// run never replaces an earlier report.
std::filesystem::path timestamped_report_path(const std::filesystem::path& dir, const std::string& job,
                                              const std::vector<std::string>& extensions = {".json"});

/// Writes `content` to `path` atomically with permissions `mode`: a temporary file in the
/// same folder, flushed to disk, then renamed over `path`. On failure the temporary file is
/// removed, `path` is left as it was, and RunError names the path. A second termination signal
/// waits for the write to finish (CriticalWrite), so no temporary is left behind.
void write_atomically(const std::filesystem::path& path, const std::string& content, unsigned mode = 0644);

/// Checks, before any work, that `path` can take an output `what` (e.g. "--report"): it is not
/// an existing directory, FIFO, device or socket, not one of `inputs` (the same file under any
/// name), and its folder exists or can be made and takes a new file (a probe file is created and
/// removed). Throws InputError naming the path and what is wrong.
void check_output_path(const std::filesystem::path& path, const std::string& what,
                       const std::vector<std::filesystem::path>& inputs);

}  // namespace modelgate::engine
