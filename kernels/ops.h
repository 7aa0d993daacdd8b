#pragma once
// The operators on modelgate's hot paths. Each is declared once (kernels/schema.cpp) in the
// `modelgate` operator library and implemented three times: a CPU kernel (kernels/cpu/), a
// CUDA kernel (kernels/cuda/, where nvcc was found), and a plain-ATen reference
// (kernels/reference_ops.cpp) that serves every other device and is the test oracle.
// These functions call through the PyTorch dispatcher, so the tensor's device picks the kernel.
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace modelgate::kernels {

/// In place: x ← clamp(min(max(x + alpha·sign(grad), x0 − eps), x0 + eps), 0, 1). Returns x.
at::Tensor& linf_step_(at::Tensor& x, const at::Tensor& grad, const at::Tensor& x0, double alpha,
                       double eps);

/// In place, per sample i: x_i += alpha·g_i/‖g_i‖₂ (no move where ‖g_i‖₂ = 0); then the
/// perturbation d_i = x_i − x0_i is scaled onto the L2 ball (d_i·min(1, eps/‖d_i‖₂)) and
/// x_i = clamp(x0_i + d_i, 0, 1). Returns x.
at::Tensor& l2_step_(at::Tensor& x, const at::Tensor& grad, const at::Tensor& x0, double alpha,
                     double eps);

/// clamp(x + level·z, 0, 1), z standard normal from the Philox stream keyed by
/// (seed, first_index + i, element) — see kernels/philox.h. The same on every device.
at::Tensor gaussian_noise(const at::Tensor& x, double level, uint64_t seed, int64_t first_index);

/// eps·u with u uniform in [−1, 1) from the Philox stream keyed like gaussian_noise (PGD's
/// random start).
at::Tensor uniform_ball(const at::Tensor& x, double eps, uint64_t seed, int64_t first_index);

/// The raw Philox words (int32, shaped like x) that element e of sample i would use: the
/// device-independence check for the random streams.
at::Tensor philox_bits(const at::Tensor& x, uint64_t seed, int64_t first_index);

/// OpenCV's default sigma for a k-tap Gaussian: 0.3·((k−1)·0.5 − 1) + 0.8.
double default_blur_sigma(int64_t k);

/// The normalised 1-D Gaussian taps for an odd `k`; sigma ≤ 0 selects default_blur_sigma(k).
/// Throws std::invalid_argument for an even or non-positive k.
std::vector<float> gaussian_taps(int64_t k, double sigma);

/// k×k Gaussian blur of an N×C×H×W tensor, per channel and separable (rows, then columns),
/// reflect-101 borders. Throws std::invalid_argument for an even k or a kernel wider than
/// the image allows.
at::Tensor gaussian_blur(const at::Tensor& x, int64_t k, double sigma);

/// Random ±1 projection of each sample's flattened activation into `bits` bits: bit b of
/// sample i is (Σ_j x_ij·s_bj ≥ 0), s_bj = ±1 regenerated from Philox (seed, b, j). Returns
/// uint8 N×bits (0/1).
at::Tensor sign_sketch(const at::Tensor& x, int64_t bits, uint64_t seed);

/// Which implementation serves operator `op` (e.g. "linf_step_") for tensors on `device`:
/// "cuda", "cpu" or "reference".
std::string backend_for(const std::string& op, c10::DeviceType device);

/// The operators above, by schema name.
const std::vector<std::string>& operator_names();

/// Whether the CUDA kernels were compiled into this binary.
bool cuda_kernels_compiled();

/// How many threads an at::parallel_for inside the kernel library runs on now: the current
/// at::get_num_threads() when the library was built with OpenMP, 1 otherwise.
int64_t cpu_kernel_threads();

}  // namespace modelgate::kernels
