// Channel-wise, group-wise (compressed-tensors), activation and KV-cache codecs: golden values for
// the scale rules, rounding, zero-point order, scale dtypes and error messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "io/error.h"
#include "io/half.h"
#include "quant/activation.h"
#include "quant/channelwise.h"
#include "quant/groupwise.h"
#include "quant/kv.h"
#include "quant/weight.h"
#include "tests/common/test_util.h"

using namespace gq;
using namespace gq::quant;
using gq::test::expect_format_error;

// --------------------------------------------------------------------------------- channel-wise

TEST(QuantChannelwise, Int4HalfEvenOnAUnitScale) {
  const auto s4 = parse_weight_scheme("int4_channel");
  const std::vector<float> x = {7.0f, 0.5f, 1.5f, 2.5f, -0.5f, -2.5f, -7.0f, 3.49f};
  float s = 0;
  channelwise_rtn_scales(s4, x.data(), &s, 1, 8);
  EXPECT_EQ(s, 1.0f);
  std::vector<int8_t> lv(8);
  channelwise_encode(s4, x.data(), &s, lv.data(), 1, 8);
  EXPECT_EQ(lv, (std::vector<int8_t>{7, 0, 2, 2, 0, -2, -7, 3}));
  std::vector<float> y(8);
  fake_quant_channelwise(s4, x.data(), y.data(), 1, 8);
  EXPECT_EQ(y, (std::vector<float>{7, 0, 2, 2, 0, -2, -7, 3}));
  EXPECT_EQ(float_bits(y[4]), 0u);  // -0.5 -> +0 (torch.round gives -0; the file holds integer 0)
}

TEST(QuantChannelwise, GridsAndClipping) {
  const auto s8 = parse_weight_scheme("int8_channel");
  const std::vector<float> x = {200.0f, -200.0f, 0.4f, -0.6f};
  const float one = 1.0f;
  std::vector<int8_t> lv(4);
  channelwise_encode(s8, x.data(), &one, lv.data(), 1, 4);
  EXPECT_EQ(lv, (std::vector<int8_t>{127, -127, 0, -1}));  // narrow range
  const auto s2 = parse_weight_scheme("int2_channel");
  const std::vector<float> x2 = {-1.0f, 1.0f, 0.2f, -0.26f};
  const float half = 0.5f;
  channelwise_encode(s2, x2.data(), &half, lv.data(), 1, 4);
  EXPECT_EQ(lv, (std::vector<int8_t>{-2, 1, 0, -1}));  // the -2 level is reachable
  float s = 0;
  channelwise_rtn_scales(s2, x2.data(), &s, 1, 4);
  EXPECT_EQ(s, 1.0f);  // amax / 1
}

TEST(QuantChannelwise, ZeroAndTinyRowsGetTheSmallestNormalScale) {
  const auto s4 = parse_weight_scheme("int4_channel");
  std::vector<float> x(16, 0.0f);
  x[16 - 8] = 1e-44f;  // subnormal: 1e-44 / 7 underflows to a subnormal scale
  float s[2];
  std::vector<float> both(32, 0.0f);
  std::copy(x.begin(), x.end(), both.begin() + 16);
  channelwise_rtn_scales(s4, both.data(), s, 2, 16);
  EXPECT_EQ(s[0], FLT_MIN);
  EXPECT_EQ(s[1], FLT_MIN);
  std::vector<float> y(32);
  fake_quant_channelwise(s4, both.data(), y.data(), 2, 16);
  for (float v : y) EXPECT_EQ(float_bits(v), 0u);
  const auto h = parse_weight_scheme("int4_channel@f16");
  channelwise_rtn_scales(h, both.data(), s, 2, 16);
  EXPECT_EQ(s[0], 6.103515625e-05f);  // smallest normal fp16
}

TEST(QuantChannelwise, ScaleDtypeRoundsScaleAndProduct) {
  const auto b = parse_weight_scheme("int4_channel@bf16");
  std::vector<float> x = {1.0f, -1.0f, 0.3f, 0.0f};
  float s = 0;
  channelwise_rtn_scales(b, x.data(), &s, 1, 4);
  EXPECT_EQ(s, bf16_to_f32(f32_to_bf16(1.0f / 7.0f)));  // 0.142578125
  EXPECT_EQ(s, 0.142578125f);
  std::vector<float> y(4);
  fake_quant_channelwise(b, x.data(), y.data(), 1, 4);
  // 7 * 0.142578125 = 0.998046875 = 1 - 2^-9, a tie in bf16: to even, i.e. 1.0
  EXPECT_EQ(y[0], bf16_to_f32(f32_to_bf16(7 * 0.142578125f)));
  EXPECT_EQ(y[0], 1.0f);
  const auto h = parse_weight_scheme("int8_channel@f16");
  x[0] = 127.0f * 70000.0f;
  expect_format_error([&] { fake_quant_channelwise(h, x.data(), y.data(), 1, 4); },
                      "int8_channel@f16: the scale of row 0 (70000) overflows F16");
}

TEST(QuantChannelwise, Errors) {
  const auto s4 = parse_weight_scheme("int4_channel");
  std::vector<float> x(8, 1.0f), y(8);
  x[6] = std::numeric_limits<float>::quiet_NaN();
  expect_format_error([&] { fake_quant_channelwise(s4, x.data(), y.data(), 2, 4); },
                      "int4_channel: input row 1, element 2 is NaN");
  x[6] = 1.0f;
  float s[2] = {1.0f, 0.0f};
  expect_format_error(
      [&] { fake_quant_channelwise_with_scales(s4, x.data(), s, y.data(), 2, 4); },
      "int4_channel: scale for row 1 is 0; it must be finite and > 0");
  s[1] = -1.0f;
  std::vector<int8_t> lv(8);
  expect_format_error([&] { channelwise_encode(s4, x.data(), s, lv.data(), 2, 4); }, "row 1 is -1");
  const auto g = parse_weight_scheme("int4_g32");
  expect_format_error([&] { fake_quant_channelwise(g, x.data(), y.data(), 2, 4); },
                      "channel-wise codec called with scheme int4_g32");
}

// ----------------------------------------------------------------------------------- group-wise

TEST(QuantGroupwise, SymmetricUsesAmaxOver7_5) {
  const auto g = parse_weight_scheme("int4_g32");
  std::vector<float> x(64, 0.0f);
  x[0] = 7.5f;   // s = 1
  x[1] = -7.5f;  // -> -8 (half-even of -7.5 is -8, in range)
  x[2] = 6.5f;   // -> 6
  x[32] = 15.0f;  // second group: s = 2
  x[33] = 3.0f;   // 1.5 -> 2
  float s[2];
  groupwise_rtn_params(g, x.data(), s, nullptr, 1, 64);
  EXPECT_EQ(s[0], 1.0f);
  EXPECT_EQ(s[1], 2.0f);
  std::vector<int8_t> lv(64);
  groupwise_encode(g, x.data(), s, nullptr, lv.data(), 1, 64);
  EXPECT_EQ(lv[0], 7);  // 7.5 -> 8 -> clamped to 7
  EXPECT_EQ(lv[1], -8);
  EXPECT_EQ(lv[2], 6);
  EXPECT_EQ(lv[32], 7);
  EXPECT_EQ(lv[33], 2);
}

TEST(QuantGroupwise, AsymmetricZeroPoints) {
  const auto g = parse_weight_scheme("int4_g32_asym");
  std::vector<float> x(96, 0.0f);
  for (int i = 0; i < 32; ++i) x[size_t(i)] = float(i % 16);  // [0, 15]: s = 1, z = -8
  for (int i = 32; i < 64; ++i) x[size_t(i)] = -float(i % 16);  // [-15, 0]: z = 7
  x[64] = -3.0f;  // [-3, 12]: s = 1, z = -5
  x[65] = 12.0f;
  float s[3];
  int8_t z[3];
  groupwise_rtn_params(g, x.data(), s, z, 1, 96);
  EXPECT_EQ(s[0], 1.0f);
  EXPECT_EQ(s[1], 1.0f);
  EXPECT_EQ(s[2], 1.0f);
  EXPECT_EQ(z[0], -8);
  EXPECT_EQ(z[1], 7);
  EXPECT_EQ(z[2], -5);
  std::vector<int8_t> lv(96);
  groupwise_encode(g, x.data(), s, z, lv.data(), 1, 96);
  EXPECT_EQ(lv[3], -5);  // 3 + (-8)
  EXPECT_EQ(lv[64], -8);
  EXPECT_EQ(lv[65], 7);
  std::vector<float> y(96);
  fake_quant_groupwise(g, x.data(), y.data(), 1, 96);
  for (int i = 0; i < 66; ++i) EXPECT_EQ(y[size_t(i)], x[size_t(i)]) << i;  // exact grid points
}

TEST(QuantGroupwise, ZeroPointIsAddedBeforeRounding) {
  // compressed-tensors computes round(x / s + z) in fp32: 0.50000006 - 8 rounds to -7.5 first,
  // then half-even gives -8 (rounding before adding z would give 1 - 8 = -7).
  const auto g = parse_weight_scheme("int4_g32_asym");
  std::vector<float> x(32, 0.0f);
  x[0] = 15.0f;
  x[1] = 0.50000006f;
  float s;
  int8_t z;
  groupwise_rtn_params(g, x.data(), &s, &z, 1, 32);
  ASSERT_EQ(s, 1.0f);
  ASSERT_EQ(z, -8);
  std::vector<int8_t> lv(32);
  groupwise_encode(g, x.data(), &s, &z, lv.data(), 1, 32);
  EXPECT_EQ(lv[1], -8);
  std::vector<float> y(32);
  fake_quant_groupwise(g, x.data(), y.data(), 1, 32);
  EXPECT_EQ(y[1], 0.0f);
}

TEST(QuantGroupwise, Bf16ScaleRoundsTheProduct) {
  const auto g = parse_weight_scheme("int4_g32@bf16");
  std::vector<float> x(32, 0.0f);
  x[0] = 7.2f;
  const float s = 1.0078125f;  // 1 + 2^-7, exact in bf16
  std::vector<float> y(32);
  fake_quant_groupwise_with_params(g, x.data(), &s, nullptr, y.data(), 1, 32);
  EXPECT_EQ(y[0], 7.0625f);  // 7 * 1.0078125 = 7.0546875 -> bf16
  const auto f = parse_weight_scheme("int4_g32");
  fake_quant_groupwise_with_params(f, x.data(), &s, nullptr, y.data(), 1, 32);
  EXPECT_EQ(y[0], 7.0546875f);
}

TEST(QuantGroupwise, Errors) {
  const auto g = parse_weight_scheme("int4_g32_asym");
  std::vector<float> x(100, 1.0f), y(100);
  expect_format_error([&] { fake_quant_groupwise(g, x.data(), y.data(), 1, 100); },
                      "int4_g32_asym: row length 100 is not a multiple of the group size 32");
  const float s = 1.0f;
  const int8_t z = 8;
  expect_format_error(
      [&] { fake_quant_groupwise_with_params(g, x.data(), &s, &z, y.data(), 1, 32); },
      "zero point 8 of row 0 is outside [-8, 7]");
  expect_format_error(
      [&] { fake_quant_groupwise_with_params(g, x.data(), &s, nullptr, y.data(), 1, 32); },
      "needs zero points");
  x[3] = FLT_MAX;
  x[4] = -FLT_MAX;  // hi - lo overflows
  expect_format_error([&] { fake_quant_groupwise(g, x.data(), y.data(), 1, 32); }, "overflows F32");
}

// ---------------------------------------------------------------------------------- activations

TEST(QuantActivation, ParamsFromRange) {
  const auto a8 = parse_activation_scheme("int8_sym");
  auto p = activation_params_from_range(a8, -2.0f, 1.0f);
  EXPECT_EQ(p.scale, 2.0f / 127.0f);
  EXPECT_EQ(p.zero_point, 0);
  const auto asym = parse_activation_scheme("int8_asym");
  p = activation_params_from_range(asym, -1.0f, 3.0f);
  EXPECT_EQ(p.scale, 4.0f / 255.0f);
  EXPECT_EQ(p.zero_point, -64);  // round(-128 + 63.75)
  const std::vector<float> x = {-1.0f, 3.0f, 0.0f};
  std::vector<int16_t> q(3);
  activation_encode(asym, p, x.data(), q.data(), 3);
  EXPECT_EQ(q, (std::vector<int16_t>{-128, 127, -64}));
  p = activation_params_from_range(asym, 0.5f, 2.0f);  // range widened to include 0
  EXPECT_EQ(p.zero_point, -128);
  p = activation_params_from_range(asym, 0.0f, 0.0f);
  EXPECT_EQ(p.scale, FLT_MIN);
  expect_format_error([&] { activation_params_from_range(asym, 1.0f, -1.0f); },
                      "int8_asym: invalid calibration range [1, -1]");
}

TEST(QuantActivation, RangesAndRounding) {
  const std::vector<float> x = {1e9f, -1e9f, 0.5f, 1.5f, -0.5f};
  std::vector<int16_t> q(5);
  ActivationParams p{1.0f, 0};
  activation_encode(parse_activation_scheme("int8_sym"), p, x.data(), q.data(), 5);
  EXPECT_EQ(q, (std::vector<int16_t>{127, -128, 0, 2, 0}));
  activation_encode(parse_activation_scheme("int8_sym_narrow"), p, x.data(), q.data(), 5);
  EXPECT_EQ(q[1], -127);
  activation_encode(parse_activation_scheme("int16_sym"), p, x.data(), q.data(), 5);
  EXPECT_EQ(q[0], 32767);
  EXPECT_EQ(q[1], -32767);
  activation_encode(parse_activation_scheme("int16_sym_rna"), p, x.data(), q.data(), 5);
  EXPECT_EQ(q[2], 1);
  EXPECT_EQ(q[4], -1);
  // asymmetric: the zero point is added after rounding (vLLM azp, TFLite): round(0.5) + 3 = 3
  ActivationParams pz{1.0f, 3};
  const auto asym = parse_activation_scheme("int8_asym");
  activation_encode(asym, pz, x.data(), q.data(), 5);
  EXPECT_EQ(q, (std::vector<int16_t>{127, -128, 3, 5, 3}));
  std::vector<float> y(5);
  fake_quant_activation(asym, pz, x.data(), y.data(), 5);
  EXPECT_EQ(y, (std::vector<float>{124, -131, 0, 2, 0}));
  activation_encode(parse_activation_scheme("int8_asym_rna"), pz, x.data(), q.data(), 5);
  EXPECT_EQ(q[2], 4);
  EXPECT_EQ(q[4], 2);
}

TEST(QuantActivation, PackingAndErrors) {
  const auto a16 = parse_activation_scheme("int16_sym");
  const std::vector<int16_t> q = {-2, 32767, -32767};
  std::vector<uint8_t> b(activation_packed_bytes(a16, 3));
  ASSERT_EQ(b.size(), 6u);
  activation_pack(a16, q.data(), b.data(), 3);
  EXPECT_EQ(b, (std::vector<uint8_t>{0xFE, 0xFF, 0xFF, 0x7F, 0x01, 0x80}));
  std::vector<int16_t> back(3);
  activation_unpack(a16, b.data(), back.data(), 3);
  EXPECT_EQ(back, q);
  const std::vector<int16_t> bad = {-32768};
  expect_format_error([&] { activation_pack(a16, bad.data(), b.data(), 1); }, "out of range");
  const auto a8 = parse_activation_scheme("int8_asym");
  std::vector<float> x = {1.0f, std::numeric_limits<float>::quiet_NaN()}, y(2);
  expect_format_error([&] { fake_quant_activation(a8, {0.1f, 0}, x.data(), y.data(), 2); },
                      "int8_asym: input row 0, element 1 is NaN");
  x[1] = 0.0f;
  expect_format_error([&] { fake_quant_activation(a8, {0.0f, 0}, x.data(), y.data(), 2); },
                      "int8_asym: scale for row 0 is 0");
}

// ------------------------------------------------------------------------------------- KV cache

// llama.cpp's q8_0 cache, computed here as ggml-quants.c's quantize_row_q8_0_ref and
// dequantize_row_q8_0 do: d = amax / 127, q = roundf(x * (1 / d)) (half away from zero), y = q * fp16(d).
TEST(QuantKv, Q8_0CacheIsGgmlsReferenceBlocks) {
  const int64_t rows = 3, hd = 64;
  std::vector<float> x(size_t(rows * hd));
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(float(i) * 0.37f) * (1.0f + float(i % 7));
  std::vector<float> y(x.size()), want(x.size());
  fake_quant_kv(parse_kv_scheme("kv_q8_0"), x.data(), y.data(), rows, hd);
  for (int64_t b = 0; b < rows * hd / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[size_t(b * 32 + j)]));
    const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    const float d16 = f16_to_f32(f32_to_f16(d));
    for (int j = 0; j < 32; ++j) want[size_t(b * 32 + j)] = std::roundf(x[size_t(b * 32 + j)] * id) * d16;
  }
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], want[i]) << i;
  expect_format_error([&] { fake_quant_kv(parse_kv_scheme("kv_q4_0"), x.data(), y.data(), 2, 48); },
                      "kv_q4_0: head_dim 48 is not a multiple of 32");
  float s[2];
  expect_format_error([&] { kv_rtn_scales(parse_kv_scheme("kv_q8_0"), x.data(), s, 1, 64); }, "kv_q8_0: ggml blocks");
}

TEST(QuantKv, PerRowScalesAndPacking) {
  const auto k4 = parse_kv_scheme("kv_int4");
  const std::vector<float> x = {7.0f, -3.5f, 0.5f, -7.0f,   // row 0: s = 1
                                0.0f, 0.0f, 0.0f, 0.0f};    // row 1: zero
  float s[2];
  kv_rtn_scales(k4, x.data(), s, 2, 4);
  EXPECT_EQ(s[0], 1.0f);
  EXPECT_EQ(s[1], FLT_MIN);
  std::vector<int8_t> lv(8);
  kv_encode(k4, x.data(), s, lv.data(), 2, 4);
  EXPECT_EQ(lv, (std::vector<int8_t>{7, -4, 0, -7, 0, 0, 0, 0}));
  std::vector<uint8_t> b(2 * kv_packed_row_bytes(k4, 4));
  ASSERT_EQ(b.size(), 4u);
  kv_pack(k4, lv.data(), b.data(), 2, 4);
  EXPECT_EQ(b, (std::vector<uint8_t>{0xC7, 0x90, 0x00, 0x00}));
  const auto k8 = parse_kv_scheme("kv_int8");
  kv_rtn_scales(k8, x.data(), s, 2, 4);
  EXPECT_EQ(s[0], 7.0f / 127.0f);
  expect_format_error([&] { kv_packed_row_bytes(k4, 5); }, "kv_int4");
  std::vector<float> y(8);
  std::vector<float> xb(x);
  xb[5] = std::numeric_limits<float>::infinity();
  expect_format_error([&] { fake_quant_kv(k8, xb.data(), y.data(), 2, 4); },
                      "kv_int8: input row 1, element 1 is +Inf");
}

// ------------------------------------------------------------------------------ weight dispatch

TEST(QuantWeight, DispatchMatchesTheCodecs) {
  std::vector<float> x(2 * 128);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(float(i) * 0.37f) * (1.0f + float(i % 7));
  for (const char* n : {"q4_0", "q8_0", "q2_0", "int4_channel", "int4_g64_asym"}) {
    const auto s = parse_weight_scheme(n);
    const QuantizedWeight q = quantize_weight(s, x.data(), 2, 128);
    EXPECT_EQ(int64_t(q.scales.size()), 2 * weight_scales_per_row(s, 128)) << n;
    EXPECT_EQ(q.zero_points.empty(), s.symmetric) << n;
    std::vector<float> a(x.size()), b(x.size());
    dequantize_weight(q, a.data());
    fake_quant_weight(s, x.data(), b.data(), 2, 128);
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(float_bits(a[i]), float_bits(b[i])) << n << " " << i;
  }
}
