// CPU kernel for modelgate::sign_sketch. The ±1 projection of N samples onto `bits` rows costs
// N·bits·D multiply-adds done directly. Instead, each run of 8 inputs is expanded once into a
// table of all 256 signed sums (T[p] = Σ_t ±x_t, + where bit t of p is set); a row's 8 signs
// form one byte of its Philox stream, so the row's partial dot product is one table lookup.
// That is 8× fewer additions than the direct product, and far fewer than the reference's
// generated float64 sign matrix and matmul.
#include "kernels/philox.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace modelgate::kernels {
namespace {

// Samples sharing one set of tables (and one row of accumulators per bit).
constexpr int64_t kTileSamples = 8;
// Input groups of 8 whose tables are built at once: 16 × 256 × 8 doubles = 256 KiB, in L2.
constexpr int64_t kTileGroups = 16;

// The sign byte of every (row b, group g): bits 8g..8g+7 of row b's stream, byte g % 4 of word
// (g / 4) % 4 of Philox block g / 16.
std::vector<uint8_t> sign_bytes(int64_t bits, int64_t groups, uint64_t seed) {
  std::vector<uint8_t> bytes(bits * groups);
  const int64_t blocks = (groups + 15) / 16;
  at::parallel_for(0, bits, 16, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b)
      for (int64_t blk = 0; blk < blocks; ++blk) {
        const auto w = philox::draw(seed, static_cast<uint64_t>(b), static_cast<uint64_t>(blk), philox::kSketch);
        for (int64_t q = 0; q < 16 && blk * 16 + q < groups; ++q)
          bytes[b * groups + blk * 16 + q] = static_cast<uint8_t>(w.v[q / 4] >> (8 * (q % 4)));
      }
  });
  return bytes;
}

// hi[r][s] = lo[r][s] + twice[s] for `rows` rows of kTileSamples: one doubling step of a table.
// The halves never overlap; saying so lets the compiler vectorize without runtime checks.
void add_rows(const double* __restrict lo, double* __restrict hi, const double* __restrict twice, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t s = 0; s < kTileSamples; ++s) hi[r * kTileSamples + s] = lo[r * kTileSamples + s] + twice[s];
}

// The 256 signed sums of one group for kTileSamples samples, entry-major: t[p][s] = Σ_k ±v[k][s],
// + where bit k of p is set.
void build_table(const double (&v)[8][kTileSamples], double* t) {
  for (int64_t s = 0; s < kTileSamples; ++s) {
    double all = 0;
    for (int64_t k = 0; k < 8; ++k) all += v[k][s];
    t[s] = -all;
  }
  // T[p + 2^k] = T[p] + 2·x_k for p < 2^k: entry p + 2^k also flips x_k to +.
  for (int64_t k = 0; k < 8; ++k) {
    double twice[kTileSamples];
    for (int64_t s = 0; s < kTileSamples; ++s) twice[s] = 2.0 * v[k][s];
    const int64_t half = int64_t{1} << k;
    add_rows(t, t + half * kTileSamples, twice, half);
  }
}

// Sketches samples [s0, s0 + kTileSamples) (rows past n are zero padding).
template <typename scalar_t>
void sketch_tile(const scalar_t* x, int64_t n, int64_t d, int64_t s0, int64_t bits, const uint8_t* bytes,
                 uint8_t* out, std::vector<double>& table, std::vector<double>& acc) {
  const int64_t groups = (d + 7) / 8;
  std::fill(acc.begin(), acc.end(), 0.0);
  for (int64_t g0 = 0; g0 < groups; g0 += kTileGroups) {
    const int64_t tile = std::min(kTileGroups, groups - g0);
    for (int64_t g = 0; g < tile; ++g) {
      double v[8][kTileSamples];
      for (int64_t k = 0; k < 8; ++k)
        for (int64_t s = 0; s < kTileSamples; ++s) {
          const int64_t j = (g0 + g) * 8 + k;
          v[k][s] = (s0 + s < n && j < d) ? static_cast<double>(x[(s0 + s) * d + j]) : 0.0;
        }
      build_table(v, table.data() + g * 256 * kTileSamples);
    }
    for (int64_t b = 0; b < bits; ++b) {
      const uint8_t* row = bytes + b * groups + g0;
      double a[kTileSamples];
      for (int64_t s = 0; s < kTileSamples; ++s) a[s] = acc[b * kTileSamples + s];
      for (int64_t g = 0; g < tile; ++g) {
        const double* entry = table.data() + (g * 256 + row[g]) * kTileSamples;
        for (int64_t s = 0; s < kTileSamples; ++s) a[s] += entry[s];
      }
      for (int64_t s = 0; s < kTileSamples; ++s) acc[b * kTileSamples + s] = a[s];
    }
  }
  for (int64_t s = 0; s < kTileSamples && s0 + s < n; ++s)
    for (int64_t b = 0; b < bits; ++b) out[(s0 + s) * bits + b] = acc[b * kTileSamples + s] >= 0 ? 1 : 0;
}

at::Tensor sign_sketch_cpu(const at::Tensor& x, int64_t bits, int64_t seed) {
  TORCH_CHECK(x.dim() >= 1, "sign_sketch: x must have a batch dimension, got a 0-d tensor");
  TORCH_CHECK(at::isFloatingType(x.scalar_type()),
              "sign_sketch: x must be a floating tensor (float32, float16, bfloat16 or float64), got ",
              x.scalar_type());
  TORCH_CHECK(bits >= 1, "sign_sketch: bits must be at least 1, got ", bits);
  const int64_t n = x.size(0);
  auto out = at::empty({n, bits}, x.options().dtype(at::kByte));
  if (n == 0) return out;
  const int64_t d = x.numel() / n;
  if (d == 0) return out.fill_(1);  // every projection of nothing is 0, and 0 ≥ 0
  const auto in = x.contiguous();
  const auto bytes = sign_bytes(bits, (d + 7) / 8, static_cast<uint64_t>(seed));
  const int64_t tiles = (n + kTileSamples - 1) / kTileSamples;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "sign_sketch_cpu", [&] {
    const scalar_t* xp = in.const_data_ptr<scalar_t>();
    uint8_t* op = out.data_ptr<uint8_t>();
    at::parallel_for(0, tiles, 1, [&](int64_t begin, int64_t end) {
      std::vector<double> table(kTileGroups * 256 * kTileSamples), acc(bits * kTileSamples);
      for (int64_t tile = begin; tile < end; ++tile)
        sketch_tile(xp, n, d, tile * kTileSamples, bits, bytes.data(), op, table, acc);
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(modelgate, CPU, m) { m.impl("sign_sketch", TORCH_FN(sign_sketch_cpu)); }

}  // namespace modelgate::kernels
