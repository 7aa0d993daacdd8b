#include "attacks/corruptions.h"

#include "kernels/ops.h"

namespace modelgate::attacks {

at::Tensor gaussian_noise(const at::Tensor& x, double level, uint64_t seed, int64_t first_index) {
  return kernels::gaussian_noise(x, level, seed, first_index);
}

at::Tensor gaussian_blur(const at::Tensor& x, int64_t k, double sigma) {
  return kernels::gaussian_blur(x, k, sigma);
}

}  // namespace modelgate::attacks
