#pragma once
// The corruptions' random numbers: Philox (kernels/philox.h) with the stream word
// 0x43 | corruption (8 bits) | severity (4 bits) | draw (12 bits), so that corruptions,
// severities and the other users of a seed (noise, random starts, sketches) never share
// numbers. Element e of sample i reads counter block e; a corruption that needs more than four
// words per element (Poisson's rejection loop) takes further `draw`s of the same block.
#include "corruptions/benchmark.h"
#include "kernels/philox.h"

#include <cmath>
#include <cstdint>

namespace modelgate::corruptions {

class SampleStream {
 public:
  SampleStream(uint64_t seed, uint64_t sample, Corruption c, int severity)
      : seed_(seed), sample_(sample),
        tag_(0x43000000u | (static_cast<uint32_t>(c) << 16) | (static_cast<uint32_t>(severity) << 12)) {}

  /// The four words of element (or slot) e, draw k (k < 4096).
  kernels::philox::Block words(uint64_t e, uint32_t k = 0) const {
    return kernels::philox::draw(seed_, sample_, e, tag_ | (k & 0xfffu));
  }
  /// A uniform double in [0, 1): 53 bits from two words.
  static double unit(uint32_t hi, uint32_t lo) {
    return static_cast<double>(((static_cast<uint64_t>(hi) << 21) ^ (lo >> 11)) & ((1ull << 53) - 1)) * 0x1p-53;
  }
  /// Two standard normals (Box–Muller, in double) from the four words of slot e, draw k.
  void normals(uint64_t e, uint32_t k, double* z) const {
    const auto w = words(e, k);
    const double u1 = 1.0 - unit(w.v[0], w.v[1]);  // (0, 1]
    const double u2 = unit(w.v[2], w.v[3]);
    const double r = std::sqrt(-2.0 * std::log(u1));
    z[0] = r * std::cos(2.0 * M_PI * u2);
    z[1] = r * std::sin(2.0 * M_PI * u2);
  }
  /// One standard normal for element e.
  double normal(uint64_t e) const {
    double z[2];
    normals(e, 0, z);
    return z[0];
  }
  /// Two uniforms in [0, 1) for element e, draw k.
  void uniforms(uint64_t e, uint32_t k, double* u) const {
    const auto w = words(e, k);
    u[0] = unit(w.v[0], w.v[1]);
    u[1] = unit(w.v[2], w.v[3]);
  }

 private:
  uint64_t seed_, sample_;
  uint32_t tag_;
};

}  // namespace modelgate::corruptions
