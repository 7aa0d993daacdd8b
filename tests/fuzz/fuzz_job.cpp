// The job reader: a ValidationJob YAML with its manifests (engine/config.cpp), from a file.
#include "engine/config.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = modelgate::fuzz::write_input(data, size, "job.yaml");
  modelgate::fuzz::expect_refusal_or_success([&] { (void)modelgate::engine::load_job(path); });
  return 0;
}
