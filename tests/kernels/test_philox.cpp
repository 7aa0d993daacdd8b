// Philox4x32-10: the scalar generator every backend uses (kernels/philox.h) and the ATen
// integer-op version behind the reference (ref::philox4x32_10), each checked against the
// Random123 known-answer vectors, then against each other.
#include "kernels/philox.h"
#include "tests/kernels/kernel_test_util.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>

namespace philox = modelgate::kernels::philox;
namespace ref = modelgate::kernels::ref;
namespace kt = modelgate::kernels::testing;

namespace {

struct KnownAnswer {
  std::array<uint32_t, 4> counter;
  std::array<uint32_t, 2> key;
  std::array<uint32_t, 4> output;
};

// Random123 1.14, kat_vectors: philox4x32 with 10 rounds.
const KnownAnswer kKnownAnswers[] = {
    {{0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u},
     {0x00000000u, 0x00000000u},
     {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
    {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
     {0xffffffffu, 0xffffffffu},
     {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
    {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
     {0xa4093822u, 0x299f31d0u},
     {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
};

uint64_t key64(const std::array<uint32_t, 2>& key) { return (static_cast<uint64_t>(key[1]) << 32) | key[0]; }

}  // namespace

TEST(Philox, ScalarMatchesRandom123KnownAnswers) {
  for (const auto& kat : kKnownAnswers) {
    const auto out = philox::philox4x32_10(philox::Block{{kat.counter[0], kat.counter[1], kat.counter[2], kat.counter[3]}},
                                           kat.key[0], kat.key[1]);
    for (int l = 0; l < 4; ++l) EXPECT_EQ(out.v[l], kat.output[l]) << "lane " << l << " of counter " << kat.counter[0];
  }
}

TEST(Philox, AtenReferenceMatchesRandom123KnownAnswers) {
  for (const auto& kat : kKnownAnswers) {
    auto counter = at::empty({1, 4}, at::kLong);
    for (int l = 0; l < 4; ++l) counter[0][l].fill_(static_cast<int64_t>(kat.counter[l]));
    const auto out = ref::philox4x32_10(counter, key64(kat.key));
    ASSERT_EQ(out.sizes(), counter.sizes());
    for (int l = 0; l < 4; ++l)
      EXPECT_EQ(out[0][l].item<int64_t>(), static_cast<int64_t>(kat.output[l])) << "lane " << l;
  }
}

TEST(Philox, DrawUsesTheDocumentedCounterLayout) {
  // draw(seed, sample, block, stream) is the raw generator on (block, sample_lo, sample_hi, stream)
  // keyed by the seed's two halves: the third vector, reassembled.
  const auto& kat = kKnownAnswers[2];
  const uint64_t sample = (static_cast<uint64_t>(kat.counter[2]) << 32) | kat.counter[1];
  const auto out = philox::draw(key64(kat.key), sample, kat.counter[0], kat.counter[3]);
  for (int l = 0; l < 4; ++l) EXPECT_EQ(out.v[l], kat.output[l]);
}

TEST(Philox, AtenReferenceAgreesWithScalarOnRandomCountersAndKeys) {
  const int64_t m = 4096;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  auto counter = at::randint(0, int64_t{1} << 32, {m, 4}, gen, at::kLong);
  for (uint64_t key : {uint64_t{0}, uint64_t{0x0123456789abcdefULL}, ~uint64_t{0}}) {
    const auto out = ref::philox4x32_10(counter, key);
    auto c = counter.accessor<int64_t, 2>();
    auto o = out.accessor<int64_t, 2>();
    int64_t mismatches = 0;
    for (int64_t i = 0; i < m; ++i) {
      const auto want = philox::philox4x32_10(
          philox::Block{{static_cast<uint32_t>(c[i][0]), static_cast<uint32_t>(c[i][1]),
                         static_cast<uint32_t>(c[i][2]), static_cast<uint32_t>(c[i][3])}},
          static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32));
      for (int l = 0; l < 4; ++l) mismatches += o[i][l] != static_cast<int64_t>(want.v[l]);
    }
    EXPECT_EQ(mismatches, 0) << "key " << key;
  }
}

TEST(Philox, AtenReferenceRejectsMalformedCounters) {
  EXPECT_THROW(ref::philox4x32_10(at::zeros({2, 3}, at::kLong), 0), c10::Error);
  EXPECT_THROW(ref::philox4x32_10(at::zeros({2, 4}, at::kInt), 0), c10::Error);
}

TEST(Philox, UnitConversionsCoverTheirRangesExactly) {
  EXPECT_EQ(philox::to_unit_open0(0u), 1.0f / 16777216.0f);  // never 0: log stays finite
  EXPECT_EQ(philox::to_unit_open0(0xffffffffu), 1.0f);
  EXPECT_EQ(philox::to_signed_unit(0u), -1.0f);
  EXPECT_EQ(philox::to_signed_unit(0xffffffffu), 1.0f - 2.0f / 16777216.0f);
  EXPECT_EQ(philox::to_signed_unit(0x80000000u), 0.0f);
}

TEST(Philox, StreamsAndSamplesDoNotShareWords) {
  const auto a = philox::draw(7, 0, 0, philox::kNoise), b = philox::draw(7, 0, 0, philox::kUniformBall),
             c = philox::draw(7, 1, 0, philox::kNoise), d = philox::draw(7, uint64_t{1} << 32, 0, philox::kNoise);
  EXPECT_NE(a.v[0], b.v[0]);
  EXPECT_NE(a.v[0], c.v[0]);
  EXPECT_NE(a.v[0], d.v[0]);  // the sample's high word is part of the counter
}
