// Scheme names: parse / print round trips, the derived grids, and clear errors for bad names.
#include <gtest/gtest.h>

#include <string>

#include "io/error.h"
#include "quant/scheme.h"

using namespace gq;
using namespace gq::quant;

namespace {

std::string error_of(const std::string& name, int which) {
  try {
    if (which == 0) parse_weight_scheme(name);
    if (which == 1) parse_activation_scheme(name);
    if (which == 2) parse_kv_scheme(name);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(QuantScheme, WeightNamesRoundTrip) {
  for (const char* n :
       {"q4_0", "q8_0", "q2_0", "int8_channel", "int4_channel", "int2_channel", "int4_g32",
        "int4_g64", "int4_g128", "int4_g32_asym", "int4_g64_asym", "int4_g128_asym", "int8_g128",
        "int8_g32_asym", "int4_channel@bf16", "int4_g128_asym@f16", "int8_channel@f16"}) {
    const WeightScheme s = parse_weight_scheme(n);
    EXPECT_EQ(weight_scheme_name(s), n);
    EXPECT_EQ(parse_weight_scheme(weight_scheme_name(s)), s);
  }
  EXPECT_EQ(parse_weight_scheme("int4_g128_sym"), parse_weight_scheme("int4_g128"));
  EXPECT_EQ(parse_weight_scheme("int4_g128@f32"), parse_weight_scheme("int4_g128"));
}

TEST(QuantScheme, WeightGrids) {
  const auto q4 = parse_weight_scheme("q4_0");
  EXPECT_EQ(q4.kind, WeightKind::kQ4_0);
  EXPECT_EQ(q4.qmin(), -8);
  EXPECT_EQ(q4.qmax(), 7);
  EXPECT_EQ(q4.group, 32);
  EXPECT_EQ(q4.ggml_type(), 2u);
  EXPECT_EQ(q4.rounding(), Rounding::kHalfUp);
  EXPECT_EQ(q4.scale_dtype, DType::F16);
  EXPECT_EQ(parse_weight_scheme("q8_0").ggml_type(), 8u);
  EXPECT_EQ(parse_weight_scheme("q8_0").qmin(), -127);
  const auto q2 = parse_weight_scheme("q2_0");
  EXPECT_EQ(q2.ggml_type(), 42u);
  EXPECT_EQ(q2.qmin(), -1);
  EXPECT_EQ(q2.qmax(), 2);
  EXPECT_EQ(q2.group, 64);
  EXPECT_EQ(q2.rounding(), Rounding::kHalfAway);
  const auto c8 = parse_weight_scheme("int8_channel");
  EXPECT_EQ(c8.qmin(), -127);  // narrow
  EXPECT_EQ(c8.qmax(), 127);
  EXPECT_EQ(c8.scales_per_row(1536), 1);
  EXPECT_EQ(c8.scale_dtype, DType::F32);
  const auto c2 = parse_weight_scheme("int2_channel");
  EXPECT_EQ(c2.qmin(), -2);
  EXPECT_EQ(c2.qmax(), 1);
  const auto g = parse_weight_scheme("int4_g128_asym@bf16");
  EXPECT_EQ(g.kind, WeightKind::kGroup);
  EXPECT_EQ(g.bits, 4);
  EXPECT_EQ(g.group, 128);
  EXPECT_FALSE(g.symmetric);
  EXPECT_EQ(g.scale_dtype, DType::BF16);
  EXPECT_EQ(g.scales_per_row(1536), 12);
  EXPECT_EQ(parse_weight_scheme("int8_g64").qmin(), -128);
  EXPECT_THROW(g.ggml_type(), FormatError);
  EXPECT_THROW(g.scales_per_row(100), FormatError);
}

TEST(QuantScheme, BadWeightNames) {
  for (const char* n : {"", "q4_1", "Q4_0", "int3_channel", "int4_g48", "int4_g128_foo",
                        "int16_channel", "int4_g0", "int4_channel_asym", "int4_g128@fp8",
                        "int99999999999_channel", "int4_g99999999999"}) {
    const std::string e = error_of(n, 0);
    EXPECT_NE(e.find(std::string("'") + n + "'"), std::string::npos) << n << ": " << e;
    EXPECT_NE(e.find("q4_0, q8_0, q2_0"), std::string::npos) << e;  // lists what is accepted
  }
  WeightScheme bad = q4_0_scheme();
  bad.group = 64;
  EXPECT_THROW(validate(bad), FormatError);
  EXPECT_THROW(channel_scheme(3), FormatError);
  EXPECT_THROW(group_scheme(4, 256, true), FormatError);
}

TEST(QuantScheme, ActivationNames) {
  const auto a = parse_activation_scheme("int8_sym");
  EXPECT_EQ(a.qmin(), -128);
  EXPECT_EQ(a.qmax(), 127);
  EXPECT_EQ(a.rounding, Rounding::kHalfEven);
  EXPECT_EQ(parse_activation_scheme("int8_sym_narrow").qmin(), -127);
  const auto b = parse_activation_scheme("int8_asym");
  EXPECT_FALSE(b.symmetric);
  EXPECT_EQ(b.qmin(), -128);
  const auto c = parse_activation_scheme("int16_sym");
  EXPECT_EQ(c.qmin(), -32767);
  EXPECT_EQ(c.qmax(), 32767);
  EXPECT_EQ(parse_activation_scheme("int16_sym_full").qmin(), -32768);
  EXPECT_EQ(parse_activation_scheme("int8_asym_rna").rounding, Rounding::kHalfAway);
  for (const char* n : {"int8_sym", "int8_sym_narrow", "int8_asym", "int16_sym", "int16_sym_full",
                        "int8_asym_rna", "int16_sym_rna", "int8_sym_narrow_rna"})
    EXPECT_EQ(activation_scheme_name(parse_activation_scheme(n)), n);
  EXPECT_EQ(activation_scheme_name(parse_activation_scheme("int8_sym_full")), "int8_sym");
  EXPECT_EQ(activation_scheme_name(parse_activation_scheme("int16_sym_narrow")), "int16_sym");
  for (const char* n : {"int4_sym", "int16_asym", "int8_asym_narrow", "int8", "uint8_asym"})
    EXPECT_NE(error_of(n, 1).find(n), std::string::npos) << n;
}

TEST(QuantScheme, KvNames) {
  EXPECT_EQ(parse_kv_scheme("kv_int8").qmax(), 127);
  EXPECT_EQ(parse_kv_scheme("kv_int8").qmin(), -127);
  EXPECT_EQ(parse_kv_scheme("int4").qmin(), -8);
  EXPECT_EQ(kv_scheme_name(parse_kv_scheme("int4")), "kv_int4");
  EXPECT_EQ(kv_scheme_name(parse_kv_scheme("kv_int8")), "kv_int8");
  EXPECT_NE(error_of("kv_int2", 2).find("'kv_int2'"), std::string::npos);
  EXPECT_EQ(kv_scheme_name(parse_kv_scheme("kv_q8_0")), "kv_q8_0");
  EXPECT_EQ(kv_scheme_name(parse_kv_scheme("q4_0")), "kv_q4_0");
  EXPECT_FALSE(parse_kv_scheme("kv_q8_0") == parse_kv_scheme("kv_int8"));
  // Bytes per cached row of 256: ggml's block_q8_0 / block_q4_0; codes + a float32 scale.
  EXPECT_EQ(parse_kv_scheme("kv_q8_0").row_bytes(256), 8 * 34);
  EXPECT_EQ(parse_kv_scheme("kv_q4_0").row_bytes(256), 8 * 18);
  EXPECT_EQ(parse_kv_scheme("kv_int8").row_bytes(256), 256 + 4);
  EXPECT_EQ(parse_kv_scheme("kv_int4").row_bytes(256), 128 + 4);
}
