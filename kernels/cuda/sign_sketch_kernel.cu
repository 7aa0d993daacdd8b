// CUDA sign_sketch: out[i, b] = (Σ_j x_ij·s_bj ≥ 0), s_bj = ±1 from bit j % 32 of word
// (j / 32) % 4 of Philox block (seed, b, j / 128, kSketch). A tiled product, like a GEMM
// whose second operand is generated on the fly: each block takes 64 samples × 64 bits, walks
// the features in chunks of 64 (the x tile in shared memory, the chunk's signs expanded from
// one Philox block per bit), and each thread keeps 4 × 4 sums. A chunk is summed in float
// (64 exact ±x terms: error below 64·2⁻²⁴·Σ|x|, about 4e-6·Σ|x|) and the chunks in double.
// When the tiles alone would leave the device idle, the features are also split across
// blocks (grid z) and the split sums are added in order by a second kernel; either way the
// reduction order is fixed, so the result is deterministic.
#include "kernels/cuda/launch.cuh"
#include "kernels/philox.h"

#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

namespace modelgate::kernels::cuda {
namespace {

constexpr int kTileSamples = 64;
constexpr int kTileBits = 64;
constexpr int kChunk = 64;           // features per step; a multiple of 32 inside one 128-feature block
constexpr int kSketchThreads = 256;  // 16 × 16 threads, 4 × 4 outputs each

__global__ void __launch_bounds__(kSketchThreads)
    sign_sketch_tile_kernel(const float* __restrict__ x, int64_t n, int64_t d, int64_t bits, uint64_t seed,
                            int64_t chunks_per_split, double* __restrict__ partial, uint8_t* __restrict__ out) {
  __shared__ float xs[kTileSamples][kChunk + 1];  // +1: the column reads hit distinct banks
  __shared__ __align__(16) float ss[kChunk][kTileBits];
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int64_t b0 = static_cast<int64_t>(blockIdx.x) * kTileBits;
  const int64_t chunks = ceil_div(d, kChunk);
  const int64_t c_begin = blockIdx.z * chunks_per_split;
  const int64_t c_end = std::min(chunks, c_begin + chunks_per_split);
  const int64_t sample_tiles = ceil_div(n, kTileSamples);

  for (int64_t tile = blockIdx.y; tile < sample_tiles; tile += gridDim.y) {
    const int64_t n0 = tile * kTileSamples;
    double acc[4][4] = {};
    for (int64_t c = c_begin; c < c_end; ++c) {
      const int64_t j0 = c * kChunk;
      for (int idx = tid; idx < kTileSamples * kChunk; idx += kSketchThreads) {
        const int row = idx / kChunk, col = idx % kChunk;
        const int64_t i = n0 + row, j = j0 + col;
        xs[row][col] = (i < n && j < d) ? x[i * d + j] : 0.0f;
      }
      {
        // Four threads per bit row expand 16 signs each from the row's Philox block.
        const int row = tid / 4, q = tid % 4;
        const philox::Block w =
            philox::draw(seed, static_cast<uint64_t>(b0 + row), static_cast<uint64_t>(j0 / 128), philox::kSketch);
        const bool low_half = j0 % 128 == 0;  // features 0..63 of the block use words 0, 1; 64..127 words 2, 3
        const uint32_t word = low_half ? (q < 2 ? w.v[0] : w.v[1]) : (q < 2 ? w.v[2] : w.v[3]);
        const int shift = (q % 2) * 16;
#pragma unroll
        for (int k = 0; k < 16; ++k) ss[q * 16 + k][row] = (word >> (shift + k)) & 1u ? 1.0f : -1.0f;
      }
      __syncthreads();
      float part[4][4] = {};
#pragma unroll 8
      for (int k = 0; k < kChunk; ++k) {
        const float4 s = *reinterpret_cast<const float4*>(&ss[k][tx * 4]);
        const float sv[4] = {s.x, s.y, s.z, s.w};
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          const float xv = xs[ty * 4 + r][k];
#pragma unroll
          for (int b = 0; b < 4; ++b) part[r][b] = fmaf(xv, sv[b], part[r][b]);
        }
      }
#pragma unroll
      for (int r = 0; r < 4; ++r)
#pragma unroll
        for (int b = 0; b < 4; ++b) acc[r][b] += part[r][b];
      __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int64_t i = n0 + ty * 4 + r;
#pragma unroll
      for (int b = 0; b < 4; ++b) {
        const int64_t bit = b0 + tx * 4 + b;
        if (i >= n || bit >= bits) continue;
        if (out != nullptr) {
          out[i * bits + bit] = acc[r][b] >= 0.0 ? 1 : 0;
        } else {
          partial[(static_cast<int64_t>(blockIdx.z) * n + i) * bits + bit] = acc[r][b];
        }
      }
    }
  }
}

// Adds the feature splits of each (sample, bit) in split order.
__global__ void sign_sketch_merge_kernel(const double* __restrict__ partial, int64_t splits, int64_t count,
                                         uint8_t* __restrict__ out) {
  for (int64_t e = global_thread(); e < count; e += grid_threads()) {
    double s = 0;
    for (int64_t z = 0; z < splits; ++z) s += partial[z * count + e];
    out[e] = s >= 0.0 ? 1 : 0;
  }
}

at::Tensor sign_sketch_cuda(const at::Tensor& x_in, int64_t bits, int64_t seed) {
  check_cuda(x_in, "sign_sketch", "x");
  TORCH_CHECK(x_in.dim() >= 1, "modelgate::sign_sketch: x must have a sample dimension (N×…), got a scalar");
  check_float(x_in, "sign_sketch", "x");
  TORCH_CHECK(bits >= 1, "modelgate::sign_sketch: bits must be at least 1, got ", bits);
  const int64_t n = x_in.size(0);
  at::Tensor out = x_in.new_empty({n, bits}, x_in.options().dtype(at::kByte));
  if (n == 0) return out;
  const int64_t d = x_in.numel() / n;
  if (d == 0) return out.fill_(1);  // every projection of nothing is 0, and 0 ≥ 0

  const c10::cuda::CUDAGuard guard(x_in.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const at::Tensor x = x_in.contiguous();
  const int64_t bit_tiles = ceil_div(bits, kTileBits), sample_tiles = ceil_div(n, kTileSamples);
  const int64_t chunks = ceil_div(d, kChunk);
  // Split the features only as far as needed for about two blocks per multiprocessor.
  const int64_t tiles = bit_tiles * std::min<int64_t>(sample_tiles, 65535);
  const int64_t wanted = std::min<int64_t>({ceil_div(2 * multiprocessors(), tiles), chunks, 65535});
  const int64_t chunks_per_split = ceil_div(chunks, std::max<int64_t>(1, wanted));
  const int64_t splits = ceil_div(chunks, chunks_per_split);
  TORCH_CHECK(bit_tiles <= std::numeric_limits<int32_t>::max(), "modelgate::sign_sketch: bits too large: ", bits);
  const dim3 grid(static_cast<unsigned int>(bit_tiles),
                  static_cast<unsigned int>(std::min<int64_t>(sample_tiles, 65535)), static_cast<unsigned int>(splits));

  at::Tensor partial;
  if (splits > 1) partial = x.new_empty({splits, n, bits}, x.options().dtype(at::kDouble));
  sign_sketch_tile_kernel<<<grid, kSketchThreads, 0, stream>>>(
      x.const_data_ptr<float>(), n, d, bits, static_cast<uint64_t>(seed), chunks_per_split,
      splits > 1 ? partial.data_ptr<double>() : nullptr, splits > 1 ? nullptr : out.data_ptr<uint8_t>());
  check_launch("sign_sketch (tiles)");
  if (splits > 1) {
    sign_sketch_merge_kernel<<<grid_for(n * bits), kThreads, 0, stream>>>(partial.const_data_ptr<double>(), splits,
                                                                          n * bits, out.data_ptr<uint8_t>());
    check_launch("sign_sketch (merge)");
  }
  return out;
}

}  // namespace
}  // namespace modelgate::kernels::cuda

TORCH_LIBRARY_IMPL(modelgate, CUDA, m) { m.impl("sign_sketch", &modelgate::kernels::cuda::sign_sketch_cuda); }
