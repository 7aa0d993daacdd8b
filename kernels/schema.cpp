// The `modelgate` operator library: every schema, declared once. Backends register
// implementations in their own files (kernels/cpu, kernels/cuda, kernels/reference_ops.cpp).
#include <torch/library.h>

TORCH_LIBRARY(modelgate, m) {
  m.def("linf_step_(Tensor(a!) x, Tensor grad, Tensor x0, float alpha, float eps) -> Tensor(a!)");
  m.def("l2_step_(Tensor(a!) x, Tensor grad, Tensor x0, float alpha, float eps) -> Tensor(a!)");
  m.def("gaussian_noise(Tensor x, float level, int seed, int first_index) -> Tensor");
  m.def("uniform_ball(Tensor x, float eps, int seed, int first_index) -> Tensor");
  m.def("philox_bits(Tensor x, int seed, int first_index) -> Tensor");
  m.def("gaussian_blur(Tensor x, int k, float sigma) -> Tensor");
  m.def("sign_sketch(Tensor x, int bits, int seed) -> Tensor");
}
