// Activations computed in the activation dtype ("int8_sym@bf16"): vLLM's WNA8O8 fake quant
// (x and the scale rounded to bf16, the quotient rounded to bf16, round half even, q * s in bf16).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "io/error.h"
#include "io/half.h"
#include "quant/activation.h"
#include "quant/scheme.h"

using namespace gq;
using namespace gq::quant;

namespace {

std::string error_of(const std::string& name) {
  try {
    parse_activation_scheme(name);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

float bf16(float v) { return bf16_to_f32(f32_to_bf16(v)); }

float fq1(const ActivationScheme& s, float scale, float x) {
  float y = 0;
  fake_quant_activation(s, {scale, 0}, &x, &y, 1);
  return y;
}

}  // namespace

TEST(ActivationComputeDtype, NamesAndErrors) {
  for (const char* n : {"int8_sym@bf16", "int8_sym@f16", "int8_sym_narrow@bf16"}) {
    const ActivationScheme s = parse_activation_scheme(n);
    EXPECT_EQ(activation_scheme_name(s), n);
    EXPECT_EQ(parse_activation_scheme(activation_scheme_name(s)), s);
  }
  EXPECT_EQ(parse_activation_scheme("int8_sym@bf16").compute_dtype, DType::BF16);
  EXPECT_EQ(parse_activation_scheme("int8_sym").compute_dtype, DType::F32);
  EXPECT_FALSE(parse_activation_scheme("int8_sym@bf16") == parse_activation_scheme("int8_sym"));
  EXPECT_EQ(parse_activation_scheme("int8_sym@bf16").qmin(), -128);
  for (const char* n : {"int8_asym@bf16", "int16_sym@bf16", "int8_sym_rna@bf16", "int8_sym@f32x", "int8_sym@fp8"})
    EXPECT_NE(error_of(n).find(n), std::string::npos) << n << ": " << error_of(n);
  EXPECT_NE(error_of("int8_asym@bf16").find("int8_sym[_narrow] only"), std::string::npos) << error_of("int8_asym@bf16");
}

TEST(ActivationComputeDtype, RoundsInputQuotientAndProductToBf16) {
  const ActivationScheme a = parse_activation_scheme("int8_sym@bf16"), f = parse_activation_scheme("int8_sym");
  // x is rounded to bf16 first: 2.50390625 -> 2.5, which rounds half to even (level 2); fp32 gives 3.
  EXPECT_EQ(fq1(a, 1.0f, 2.50390625f), 2.0f);
  EXPECT_EQ(fq1(f, 1.0f, 2.50390625f), 3.0f);
  // The quotient is rounded to bf16: 3.484375 / 0.99609375 = 3.498 in fp32 -> bf16 3.5 -> level 4.
  const float s = 0.99609375f;  // bf16-exact
  EXPECT_EQ(fq1(a, s, 3.484375f), 4.0f * s);
  EXPECT_EQ(fq1(f, s, 3.484375f), 3.0f * s);
  // The scale is rounded to bf16 before use; the product too.
  const float s01 = bf16(0.1f);
  EXPECT_EQ(s01, 0.10009765625f);
  EXPECT_EQ(fq1(a, 0.1f, 1.0f), bf16(10.0f * s01));
  EXPECT_EQ(fq1(a, 0.1f, 1.0f), 1.0f);  // bf16(1.0009765625) = 1
  // Clamps to -128..127, with inputs beyond bf16's range too.
  EXPECT_EQ(fq1(a, 1.0f, 1e9f), 127.0f);
  EXPECT_EQ(fq1(a, 1.0f, -1e9f), -128.0f);
  EXPECT_EQ(fq1(a, 1.0f, FLT_MAX), 127.0f);  // bf16(FLT_MAX) = inf
  EXPECT_EQ(fq1(parse_activation_scheme("int8_sym_narrow@bf16"), 1.0f, -1e9f), -127.0f);
  // torch.round(-0.3) is -0 and stays -0 times the scale; the integer code 0 decodes to +0.
  const float z = fq1(a, 1.0f, -0.3f);
  EXPECT_EQ(z, 0.0f);
  EXPECT_TRUE(std::signbit(z));
  int16_t level = 5;
  const float x = -0.3f;
  activation_encode(a, {1.0f, 0}, &x, &level, 1);
  EXPECT_EQ(level, 0);
  float y = 1;
  activation_dequantize(a, {1.0f, 0}, &level, &y, 1);
  EXPECT_FALSE(std::signbit(y));
}

TEST(ActivationComputeDtype, F16RoundsToHalf) {
  const ActivationScheme a = parse_activation_scheme("int8_sym@f16");
  const float s = f16_to_f32(f32_to_f16(0.1f));
  EXPECT_EQ(fq1(a, 0.1f, 5.0f), f16_to_f32(f32_to_f16(float(std::nearbyint(f16_to_f32(f32_to_f16(5.0f / s)))) * s)));
}

TEST(ActivationComputeDtype, CalibratedScaleIsHeldInTheComputeDtype) {
  const ActivationScheme a = parse_activation_scheme("int8_sym@bf16");
  const ActivationParams p = activation_params_from_range(a, -2.0f, 1.0f);
  EXPECT_EQ(p.scale, bf16(2.0f / 127.0f));
  EXPECT_EQ(p.zero_point, 0);
  EXPECT_EQ(activation_params_from_range(a, 0.0f, 0.0f).scale, FLT_MIN);
  EXPECT_EQ(activation_params_from_range(parse_activation_scheme("int8_sym@f16"), 0.0f, 0.0f).scale,
            6.103515625e-05f);
  EXPECT_EQ(activation_params_from_range(parse_activation_scheme("int8_sym@f16"), -2.0f, 1.0f).scale,
            f16_to_f32(f32_to_f16(2.0f / 127.0f)));
}

TEST(ActivationComputeDtype, CodesDecodeToTheFakeQuantUpToTheSignOfZero) {
  const ActivationScheme a = parse_activation_scheme("int8_sym@bf16");
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.f, 1.f);
  const int64_t n = 4096;
  std::vector<float> x(n), y(n), fq(n);
  for (float& v : x) v = nd(rng) * 3.0f;
  x[0] = 0.0f, x[1] = -0.0f, x[2] = 1e-40f;
  for (float scale : {0.01f, 0.0123f, 0.05f}) {
    std::vector<int16_t> q(n);
    activation_encode(a, {scale, 0}, x.data(), q.data(), n);
    activation_dequantize(a, {scale, 0}, q.data(), y.data(), n);
    fake_quant_activation(a, {scale, 0}, x.data(), fq.data(), n);
    int64_t clamped = 0;
    for (int64_t i = 0; i < n; ++i) {
      clamped += q[size_t(i)] == 127 || q[size_t(i)] == -128;
      if (fq[size_t(i)] == 0.0f) {
        EXPECT_EQ(y[size_t(i)], 0.0f) << i;
        continue;
      }
      EXPECT_EQ(std::memcmp(&y[size_t(i)], &fq[size_t(i)], 4), 0) << i << ": " << y[size_t(i)] << " vs " << fq[size_t(i)];
      EXPECT_EQ(fq[size_t(i)], bf16(fq[size_t(i)])) << "the output is a bf16 value";
    }
    if (scale == 0.01f) {
      EXPECT_GT(clamped, 0);
    }
  }
}

TEST(ActivationComputeDtype, RejectsBadInputAndScales) {
  const ActivationScheme a = parse_activation_scheme("int8_sym@bf16");
  std::vector<float> x = {1.0f, std::nanf("")}, y(2);
  try {
    fake_quant_activation(a, {0.1f, 0}, x.data(), y.data(), 2);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("int8_sym@bf16: input row 0, element 1 is NaN"), std::string::npos) << e.what();
  }
  x[1] = 0.0f;
  EXPECT_THROW(fake_quant_activation(a, {0.0f, 0}, x.data(), y.data(), 2), FormatError);
  EXPECT_THROW(fake_quant_activation(a, {1e-45f, 0}, x.data(), y.data(), 2), FormatError);  // bf16(1e-45) = 0
  const int16_t bad = 128;
  EXPECT_THROW(activation_dequantize(a, {0.1f, 0}, &bad, y.data(), 1), FormatError);
}
