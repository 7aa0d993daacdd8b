#pragma once
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator, a pure function of (counter, key). The same code compiles for the
// host and the device, so CPU and CUDA kernels draw bit-identical integers.
//
// modelgate's stream layout: key = the 64-bit seed; counter = (block, sample_lo, sample_hi,
// stream) where `block` indexes groups of four elements within one sample. A sample's numbers
// therefore depend only on (seed, sample index, element), never on batching or the device.
#include <cstdint>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define MODELGATE_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define MODELGATE_HOST_DEVICE inline
#endif

namespace modelgate::kernels::philox {

struct Block {
  uint32_t v[4];
};

/// Stream tags: different uses of one seed never share numbers.
enum Stream : uint32_t { kNoise = 0x4e4f4953u, kUniformBall = 0x42414c4cu, kSketch = 0x534b4554u, kBits = 0x42495453u };

MODELGATE_HOST_DEVICE uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

/// Philox4x32 with 10 rounds on counter c and key (k0, k1).
MODELGATE_HOST_DEVICE Block philox4x32_10(Block c, uint32_t k0, uint32_t k1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    const uint32_t lo0 = mulhilo(kM0, c.v[0], &hi0);
    const uint32_t lo1 = mulhilo(kM1, c.v[2], &hi1);
    c = Block{{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
    k0 += kW0;
    k1 += kW1;
  }
  return c;
}

/// The four 32-bit words for element group `block` of sample `sample` in `stream`.
MODELGATE_HOST_DEVICE Block draw(uint64_t seed, uint64_t sample, uint64_t block, uint32_t stream) {
  // Elements past 2^32·4 per sample are not a concern (16 Gi elements per sample).
  return philox4x32_10(Block{{static_cast<uint32_t>(block), static_cast<uint32_t>(sample),
                              static_cast<uint32_t>(sample >> 32), stream}},
                       static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

/// A float in (0, 1]: 24 random bits, never 0 so that log() is finite.
MODELGATE_HOST_DEVICE float to_unit_open0(uint32_t x) {
  return (static_cast<float>(x >> 8) + 1.0f) * (1.0f / 16777216.0f);
}

/// A float in [-1, 1): 24 random bits scaled symmetrically.
MODELGATE_HOST_DEVICE float to_signed_unit(uint32_t x) {
  return static_cast<float>(x >> 8) * (2.0f / 16777216.0f) - 1.0f;
}

}  // namespace modelgate::kernels::philox
