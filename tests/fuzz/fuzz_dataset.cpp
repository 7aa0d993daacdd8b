// The dataset readers (engine/dataset.cpp), one target per format: built as fuzz_npz with
// MODELGATE_FUZZ_DATASET_FILE "data.npz" (a zip of .npy arrays through libzip, with its header,
// shape, ratio and memory checks) and as fuzz_pt_dataset with "data.pt" (the model scan first,
// then LibTorch's unpickler on what the scan passed); then the dataset checks.
#include "engine/dataset.h"
#include "tests/fuzz/fuzz_input.h"

#include <ATen/Parallel.h>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = modelgate::fuzz::write_input(data, size, MODELGATE_FUZZ_DATASET_FILE);
  modelgate::fuzz::expect_refusal_or_success([&] { (void)modelgate::engine::load_dataset(path); });
  return 0;
}
