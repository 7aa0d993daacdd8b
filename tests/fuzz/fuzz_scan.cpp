// The model-archive scanner (engine/scan): zip structure and limits, the static pickle walk,
// the TorchScript source checks; in memory, as `validate` and `scan` run it on a decrypted model.
// The scanner reports what it cannot read (ScanReport::unreadable) rather than throwing, so
// here even an input error is a finding.
#include "engine/scan/scan.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto report = modelgate::engine::scan::scan_bytes(bytes, "model.pt");
    (void)modelgate::engine::scan::worst_severity(report.findings);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "modelgate fuzz: scan_bytes threw: %s\n", e.what());
    std::abort();
  }
  return 0;
}
