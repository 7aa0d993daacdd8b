// The fingerprint reader (fingerprint/record.cpp) as `compare` reads a reference or candidate
// file: depth check, JSON parse, from_json with its limits and cross-checks; then what compare
// does with a fingerprint it accepted (every metric, against itself) and its JSON round trip.
#include "engine/json_depth.h"
#include "fingerprint/compare.h"
#include "fingerprint/record.h"
#include "tests/fuzz/fuzz_input.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (modelgate::engine::json_too_deep(text)) return 0;  // refused before parsing
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  std::optional<modelgate::fingerprint::Fingerprint> fp;
  // compare turns every exception of from_json into an input error (engine/commands.cpp); the
  // JSON library's type errors are refusals as much as from_json's own invalid_argument.
  try {
    fp = modelgate::fingerprint::from_json(j);
  } catch (const std::invalid_argument&) {
  } catch (const nlohmann::json::exception&) {
  }
  if (!fp) return 0;
  modelgate::fuzz::expect_refusal_or_success([&] {
    (void)modelgate::fingerprint::compare(*fp, *fp);
    (void)modelgate::fingerprint::from_json(modelgate::fingerprint::to_json(*fp));
    (void)modelgate::fingerprint::summary_json(*fp);
  });
  return 0;
}
