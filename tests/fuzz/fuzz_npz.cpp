// The .npz dataset reader (engine/dataset.cpp): a zip of .npy arrays `inputs` and `labels`,
// through libzip, with its header, shape, ratio and memory checks, then the dataset checks.
#include "engine/dataset.h"
#include "tests/fuzz/fuzz_input.h"

#include <ATen/Parallel.h>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = modelgate::fuzz::write_input(data, size, "data.npz");
  modelgate::fuzz::expect_refusal_or_success([&] { (void)modelgate::engine::load_dataset(path); });
  return 0;
}
