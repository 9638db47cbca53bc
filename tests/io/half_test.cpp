// binary16 and bfloat16 conversions: exact values, round-to-nearest-even at every rounding
// boundary, and exhaustive round trips over all 65536 patterns.
#include "io/half.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

namespace gq {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

bool f16_is_nan(uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0; }
bool bf16_is_nan(uint16_t h) { return (h & 0x7f80u) == 0x7f80u && (h & 0x7fu) != 0; }

// Every one of the 65536 patterns decodes and encodes back to itself (a NaN to some NaN).
void expect_every_pattern_round_trips(float (*decode)(uint16_t), uint16_t (*encode)(float), bool (*is_nan)(uint16_t)) {
  for (uint32_t p = 0; p <= 0xffff; ++p) {
    const uint16_t h = uint16_t(p);
    const uint16_t back = encode(decode(h));
    if (is_nan(h))
      EXPECT_TRUE(is_nan(back)) << std::hex << p;
    else
      ASSERT_EQ(back, h) << std::hex << p;
  }
}

TEST(F16, EncodesKnownValues) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(0.1f), 0x2e66);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);               // largest finite
  EXPECT_EQ(f32_to_f16(std::nextafter(65520.0f, 0.0f)), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // halfway to 65536: ties to even, which is inf
  EXPECT_EQ(f32_to_f16(-65520.0f), 0xfc00);
  EXPECT_EQ(f32_to_f16(1e10f), 0x7c00);
  EXPECT_EQ(f32_to_f16(kInf), 0x7c00);
  EXPECT_EQ(f32_to_f16(-kInf), 0xfc00);
}

TEST(F16, EncodesSubnormalsWithTiesToEven) {
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // tie between 0 and 2^-24: to 0
  EXPECT_EQ(f32_to_f16(-std::ldexp(1.0f, -25)), 0x8000);
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);  // tie between 1 and 2 ulps: to 2
  EXPECT_EQ(f32_to_f16(std::ldexp(5.0f, -25)), 0x0002);  // tie between 2 and 3 ulps: to 2
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -26)), 0x0000);
  EXPECT_EQ(f32_to_f16(std::ldexp(1023.0f, -24)), 0x03ff);  // largest subnormal
}

TEST(F16, KeepsNaN) {
  EXPECT_TRUE(f16_is_nan(f32_to_f16(kNaN)));
  EXPECT_TRUE(f16_is_nan(f32_to_f16(-kNaN)));
  // A payload only in the low float bits must not truncate to infinity.
  EXPECT_TRUE(f16_is_nan(f32_to_f16(bits_float(0x7f800001u))));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7c01)));
}

TEST(F16, DecodesKnownValues) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(f16_to_f32(0x0400), std::ldexp(1.0f, -14));
  EXPECT_EQ(float_bits(f16_to_f32(0x8000)), 0x80000000u);  // negative zero keeps its sign
  EXPECT_EQ(f16_to_f32(0x7c00), kInf);
  EXPECT_EQ(f16_to_f32(0xfc00), -kInf);
}

TEST(F16, RoundTripsEveryPattern) { expect_every_pattern_round_trips(f16_to_f32, f32_to_f16, f16_is_nan); }

TEST(BF16, EncodesKnownValues) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(-1.0f), 0xbf80);
  EXPECT_EQ(f32_to_bf16(3.14159265f), 0x4049);
  EXPECT_EQ(f32_to_bf16(kInf), 0x7f80);
  EXPECT_EQ(f32_to_bf16(-kInf), 0xff80);
  // The largest float lies above the midpoint to the next power of two, so it rounds to inf.
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(bf16_to_f32(0x4049), 3.140625f);
}

TEST(BF16, RoundsToNearestEven) {
  const float ulp = std::ldexp(1.0f, -7);  // bf16 spacing just above 1.0
  EXPECT_EQ(f32_to_bf16(1.0f + ulp), 0x3f81);
  EXPECT_EQ(f32_to_bf16(1.0f + ulp / 2), 0x3f80);                        // tie: down to even
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * ulp / 2), 0x3f82);                    // tie: up to even
  EXPECT_EQ(f32_to_bf16(std::nextafter(1.0f + ulp / 2, 2.0f)), 0x3f81);  // just above a tie
  EXPECT_EQ(f32_to_bf16(std::nextafter(1.0f + 3 * ulp / 2, 0.0f)), 0x3f81);
  EXPECT_EQ(f32_to_bf16(-(1.0f + 3 * ulp / 2)), 0xbf82);
}

TEST(BF16, KeepsNaN) {
  EXPECT_TRUE(bf16_is_nan(f32_to_bf16(kNaN)));
  // Truncating 0x7f800001 would give 0x7f80, which is infinity.
  EXPECT_TRUE(bf16_is_nan(f32_to_bf16(bits_float(0x7f800001u))));
  EXPECT_TRUE(bf16_is_nan(f32_to_bf16(bits_float(0xffffffffu))));
}

TEST(BF16, RoundTripsEveryPattern) { expect_every_pattern_round_trips(bf16_to_f32, f32_to_bf16, bf16_is_nan); }

// For every pair of adjacent non-negative patterns (p, p+1), the float at their midpoint must round
// to whichever is even, and the floats one step either side of it to the nearer one. The pattern
// after the largest finite one is infinity; its midpoint uses the value the next binade would give.
template <typename Decode, typename Encode>
void check_midpoints(Decode decode, Encode encode, uint16_t inf_pattern, double inf_stand_in) {
  for (uint32_t p = 0; p < inf_pattern; ++p) {
    const double lo = decode(uint16_t(p));
    const double hi = p + 1 == inf_pattern ? inf_stand_in : double(decode(uint16_t(p + 1)));
    const float mid = float((lo + hi) / 2);
    ASSERT_EQ(double(mid), (lo + hi) / 2) << "midpoint not exact in float at " << std::hex << p;
    const uint16_t even = (p % 2 == 0) ? uint16_t(p) : uint16_t(p + 1);
    ASSERT_EQ(encode(mid), even) << std::hex << p;
    ASSERT_EQ(encode(std::nextafter(mid, kInf)), p + 1) << std::hex << p;
    ASSERT_EQ(encode(std::nextafter(mid, 0.0f)), p) << std::hex << p;
    ASSERT_EQ(encode(-mid), 0x8000 | even) << std::hex << p;
  }
}

TEST(F16, EveryMidpointRoundsToNearestEven) {
  check_midpoints(f16_to_f32, f32_to_f16, 0x7c00, 65536.0);
}

TEST(BF16, EveryMidpointRoundsToNearestEven) {
  check_midpoints(bf16_to_f32, f32_to_bf16, 0x7f80, std::ldexp(1.0, 128));
}

}  // namespace
}  // namespace gq
