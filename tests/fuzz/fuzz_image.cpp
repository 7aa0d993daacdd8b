// The image folder reader (engine/data/image_folder.cpp): one file of untrusted bytes in a class
// folder, decoded by libpng or libjpeg-turbo, converted, resized and cropped. A file that does
// not decode must be refused as an input error naming it; a decoder bug is a sanitiser report.
#include "engine/dataset.h"
#include "tests/fuzz/fuzz_input.h"

#include <ATen/Parallel.h>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(1);
  std::filesystem::create_directories(modelgate::fuzz::scratch_dir() / "images" / "class");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  modelgate::fuzz::write_input(data, size, "images/class/input.png");
  modelgate::engine::data::DatasetSpec spec;
  spec.path = modelgate::fuzz::scratch_dir() / "images";
  spec.resize = 16;
  spec.center_crop = 16;
  modelgate::fuzz::expect_refusal_or_success([&] { (void)modelgate::engine::open_dataset(spec); });
  return 0;
}
