#pragma once
// The JSON report (engine/schema/report.schema.json): the typed results written out, and read
// back so that every other format can be rendered from an earlier report without a rerun.
#include "engine/results.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace modelgate::engine {

/// The report document, keys in the schema's documented order.
nlohmann::ordered_json report_json(const JobResult& result);

/// One model's results as the report writes them, and read back (the model worker sends its
/// results this way).
nlohmann::ordered_json model_result_json(const ModelResult& model);
ModelResult model_result_from_json(const nlohmann::ordered_json& model, const std::string& source);

/// The `environment` object of reports.
nlohmann::ordered_json environment_json(const Environment& environment);

/// The report text as written to disk: report_json indented by 2, with a final newline.
std::string report_text(const JobResult& result);

/// Reads a report document back. Throws InputError naming `source` and the field for anything
/// that is not a modelgate report of a schema version this build reads.
JobResult job_result_from_json(const nlohmann::ordered_json& report, const std::string& source);

/// Reads and parses a report file (see job_result_from_json).
JobResult read_report(const std::filesystem::path& path);

}  // namespace modelgate::engine
