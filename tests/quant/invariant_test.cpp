// The invariant every codec must keep, on random and adversarial tensors:
//
//   dequant(unpack(pack(quant(x))))  ==  fake_quant(x)      bit for bit (uint32 patterns)
//
// for RTN quantization and for quantization with given (learned) scales / zero points. No -0/+0
// exception is needed: the fake-quant references canonicalise a rounded -0 to +0 (the file holds
// the integer 0) and reproduce the sign of zero of `0 * negative_scale` exactly as the GGUF
// dequantizers do. Scales also go through their stored dtype (fp16 / bf16 / f32 bytes).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cfloat>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "io/error.h"
#include "io/half.h"
#include "quant/activation.h"
#include "quant/channelwise.h"
#include "quant/groupwise.h"
#include "quant/kv.h"
#include "quant/packing.h"
#include "quant/q2_0.h"
#include "quant/q4_0.h"
#include "quant/q8_0.h"
#include "quant/weight.h"

using namespace gq;
using namespace gq::quant;

namespace {

struct Case {
  std::string name;
  int64_t rows, cols;
  std::vector<float> x;
};

// Per-scheme facts the generator needs.
struct Limits {
  float max_abs;    // largest |x| the RTN scale rule can store
  float unit_amax;  // a block containing this value (and nothing larger) gets an RTN scale of 1
  bool asym;
};

Limits limits_for(const WeightScheme& s) {
  switch (s.kind) {
    case WeightKind::kQ4_0: return {8.0f * 65504.0f, -8.0f, false};
    case WeightKind::kQ8_0: return {127.0f * 65504.0f, 127.0f, false};
    case WeightKind::kQ2_0: return {65504.0f, 1.0f, false};
    case WeightKind::kChannel:
      return {s.scale_dtype == DType::F16 ? 60000.0f : 1e38f, float(s.qmax()), false};
    case WeightKind::kGroup:
      if (s.symmetric)
        return {s.scale_dtype == DType::F16 ? 60000.0f : 1e38f, float(s.qmax() - s.qmin()) / 2, false};
      return {s.scale_dtype == DType::F16 ? 60000.0f : 1e38f, float(s.qmax() - s.qmin()), true};
  }
  return {};
}

float bf16_round(float v) { return bf16_to_f32(f32_to_bf16(v)); }

// Adversarial and random rows; every row has `cols` values, cols a multiple of 128.
std::vector<Case> make_cases(const Limits& lim, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nrm(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  std::vector<Case> cases;
  auto add = [&](const std::string& name, std::vector<std::vector<float>> rows) {
    Case c{name, int64_t(rows.size()), cols, {}};
    for (auto& r : rows) {
      r.resize(static_cast<size_t>(cols), 0.0f);
      for (auto& v : r) v = std::fmax(-lim.max_abs, std::fmin(lim.max_abs, v));
      c.x.insert(c.x.end(), r.begin(), r.end());
    }
    cases.push_back(std::move(c));
  };
  auto row = [&](std::function<float(int64_t)> f) {
    std::vector<float> r(static_cast<size_t>(cols));
    for (int64_t j = 0; j < cols; ++j) r[size_t(j)] = f(j);
    return r;
  };

  add("all zeros", {row([](int64_t) { return 0.0f; }), row([](int64_t) { return -0.0f; })});

  // Equal magnitudes with opposite signs at the max, in both orders, in every block.
  add("ties at the max", {row([&](int64_t j) {
                            const int64_t k = j % 32;
                            return k == 1 ? -0.75f : k == 5 ? 0.75f : 0.1f * uni(rng);
                          }),
                          row([&](int64_t j) {
                            const int64_t k = j % 32;
                            return k == 1 ? 0.75f : k == 5 ? -0.75f : 0.1f * uni(rng);
                          }),
                          row([&](int64_t j) { return (j % 2) ? 3.0f : -3.0f; })});

  const float huge = lim.max_abs;
  add("single huge value", {row([&](int64_t j) { return j == 17 ? huge : 1e-3f * nrm(rng); }),
                            row([&](int64_t j) { return j == 100 ? -0.9f * huge : nrm(rng); }),
                            row([&](int64_t j) { return j == 0 ? 6e4f : 1e-3f * nrm(rng); })});

  add("fp16 range limits", {row([](int64_t j) { return (j % 3 == 0) ? 65504.0f : (j % 3 == 1) ? -65504.0f : 1.0f; }),
                            row([](int64_t j) { return j % 2 ? -65504.0f : 32752.0f; })});

  add("denormals", {row([&](int64_t j) {
                      const float d[] = {1e-40f, -3e-42f, 1.4e-45f, 0.0f, -1.17e-38f, 5e-39f};
                      return d[j % 6];
                    }),
                    row([&](int64_t j) { return j % 16 == 0 ? 1.0f : 1e-40f * float(j % 5); }),
                    row([&](int64_t j) { return j % 7 == 0 ? -2e-38f : 1e-45f * float(j % 3); })});

  // Values exactly on rounding boundaries: blocks whose RTN scale is 1 (or 2^-10), holding k + 0.5.
  for (const float unit : {1.0f, 1.0f / 1024.0f}) {
    add(unit == 1.0f ? "rounding boundaries, unit scale" : "rounding boundaries, scale 2^-10",
        {row([&](int64_t j) {
           const int64_t k = j % 32;
           if (k == 0) return lim.unit_amax * unit;
           if (lim.asym) return (float((k - 1) % 15) + 0.5f) * unit;  // inside [0, 15]
           const float m = std::fabs(lim.unit_amax);
           float v = float(int64_t(k % 17) - 8) + 0.5f;  // -7.5 .. 8.5
           v = std::fmax(-m, std::fmin(m, v));
           return v * unit;
         }),
         row([&](int64_t j) {  // the other side and near-boundaries (one ulp off)
           const int64_t k = j % 32;
           if (k == 0) return lim.unit_amax * unit;
           const float m = std::fabs(lim.unit_amax);
           float v = lim.asym ? float(k % 15) + 0.5f : float(int64_t(k % 5)) - 2.5f;
           v = std::fmax(lim.asym ? 0.0f : -m, std::fmin(m, v));
           if (k % 3 == 1) v = std::nextafter(v, 100.0f);
           if (k % 3 == 2) v = std::nextafter(v, -100.0f);
           if (lim.asym) v = std::fmax(0.0f, std::fmin(m, v));
           return v * unit;
         })});
  }

  add("small negatives round to zero", {row([&](int64_t j) {
        return j % 32 == 0 ? 1.0f : -1e-3f * (1.0f + float(j % 4));
      })});

  add("very small scales", {row([&](int64_t) { return 1e-30f * nrm(rng); }),
                            row([&](int64_t) { return 1.2e-38f * uni(rng); }),
                            row([&](int64_t) { return 3e-5f * nrm(rng); }),
                            row([&](int64_t) { return 5e-8f * uni(rng); })});

  std::vector<std::vector<float>> rnd;
  std::uniform_real_distribution<float> mag(-8.0f, 4.0f);
  for (int r = 0; r < 24; ++r) {
    const float scale = std::pow(10.0f, mag(rng));
    const bool bf16 = r % 3 == 0;
    rnd.push_back(row([&](int64_t) {
      const float v = (r % 2 ? nrm(rng) : uni(rng)) * scale;
      return bf16 ? bf16_round(v) : v;
    }));
  }
  add("random", rnd);
  return cases;
}

std::string describe_mismatch(const std::string& what, const Case& c, size_t i, float a, float b) {
  std::ostringstream os;
  os.precision(9);
  os << what << " / " << c.name << ": element " << i << " (row " << int64_t(i) / c.cols << ", col "
     << int64_t(i) % c.cols << "), x = " << c.x[i] << ": bytes path " << a << " (0x" << std::hex
     << float_bits(a) << std::dec << ") vs fake-quant " << b << " (0x" << std::hex << float_bits(b) << ")";
  return os.str();
}

void expect_bits_equal(const std::string& what, const Case& c, const std::vector<float>& a,
                       const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    if (float_bits(a[i]) != float_bits(b[i])) {
      ADD_FAILURE() << describe_mismatch(what, c, i, a[i], b[i]);
      return;
    }
}

// Scales through the bytes of their stored dtype; must be lossless (they were rounded already).
std::vector<float> store_scales(const WeightScheme& s, const std::vector<float>& scales) {
  std::vector<float> out(scales.size());
  for (size_t i = 0; i < scales.size(); ++i) {
    switch (s.scale_dtype) {
      case DType::F16: out[i] = f16_to_f32(f32_to_f16(scales[i])); break;
      case DType::BF16: out[i] = bf16_to_f32(f32_to_bf16(scales[i])); break;
      default: out[i] = scales[i];
    }
  }
  return out;
}

// A GGUF block codec's levels and scales through its bytes.
template <class Codec>
void through_gguf_bytes(const QuantizedWeight& q, QuantizedWeight& u) {
  std::vector<uint8_t> b(static_cast<size_t>(q.rows) * Codec::row_bytes(q.cols));
  Codec::pack(q.levels.data(), q.scales.data(), b.data(), q.rows, q.cols);
  Codec::unpack(b.data(), u.levels.data(), u.scales.data(), q.rows, q.cols);
}

// quant -> on-disk bytes -> unpack -> dequant, for the scheme's formats.
std::vector<float> through_bytes(const QuantizedWeight& q) {
  const WeightScheme& s = q.scheme;
  const int64_t rows = q.rows, cols = q.cols;
  QuantizedWeight u = q;
  std::fill(u.levels.begin(), u.levels.end(), int8_t(99));
  switch (s.kind) {
    case WeightKind::kQ4_0: through_gguf_bytes<Q4_0Codec>(q, u); break;
    case WeightKind::kQ8_0: through_gguf_bytes<Q8_0Codec>(q, u); break;
    case WeightKind::kQ2_0: through_gguf_bytes<Q2_0Codec>(q, u); break;
    case WeightKind::kChannel: {
      std::vector<uint8_t> b(tflite_packed_bytes(rows * cols, s.bits));
      tflite_pack(q.levels.data(), b.data(), rows * cols, s.bits);
      tflite_unpack(b.data(), u.levels.data(), rows * cols, s.bits);
      std::vector<int32_t> w(static_cast<size_t>(rows * ct_packed_cols(cols, s.bits)));
      ct_pack_rows(q.levels.data(), w.data(), rows, cols, s.bits);
      std::vector<int8_t> ct(q.levels.size());
      ct_unpack_rows(w.data(), ct.data(), rows, cols, s.bits);
      EXPECT_EQ(ct, u.levels) << "TFLite and compressed-tensors packings disagree";
      u.scales = store_scales(s, q.scales);
      break;
    }
    case WeightKind::kGroup: {
      std::vector<int32_t> w(static_cast<size_t>(rows * ct_packed_cols(cols, s.bits)));
      const int64_t ng = cols / s.group;
      std::vector<int32_t> zw(static_cast<size_t>(ct_packed_cols(rows, s.bits) * ng));
      groupwise_pack(s, q.levels.data(), q.zero_points.empty() ? nullptr : q.zero_points.data(),
                     w.data(), zw.data(), rows, cols);
      std::fill(u.zero_points.begin(), u.zero_points.end(), int8_t(99));
      groupwise_unpack(s, w.data(), zw.data(), u.levels.data(),
                       u.zero_points.empty() ? nullptr : u.zero_points.data(), rows, cols);
      EXPECT_EQ(u.zero_points, q.zero_points);
      u.scales = store_scales(s, q.scales);
      break;
    }
  }
  EXPECT_EQ(u.levels, q.levels) << weight_scheme_name(s) << ": levels changed through the bytes";
  std::vector<float> y(static_cast<size_t>(rows * cols));
  dequantize_weight(u, y.data());
  return y;
}

const char* kWeightSchemes[] = {"q4_0",          "q8_0",          "q2_0",
                                "int8_channel",  "int4_channel",  "int2_channel",
                                "int4_g32",      "int4_g64",      "int4_g128",
                                "int4_g32_asym", "int4_g64_asym", "int4_g128_asym",
                                "int8_g128",     "int8_g32_asym", "int4_channel@bf16",
                                "int8_channel@f16", "int4_g128@bf16", "int4_g32_asym@f16"};

}  // namespace

class QuantCodecInvariant : public ::testing::TestWithParam<const char*> {};

TEST_P(QuantCodecInvariant, RtnBytesPathEqualsFakeQuant) {
  const WeightScheme s = parse_weight_scheme(GetParam());
  int checked = 0;
  for (int64_t cols : {128, 256}) {
    for (const Case& c : make_cases(limits_for(s), cols, uint32_t(cols))) {
      SCOPED_TRACE(c.name);
      QuantizedWeight q;
      ASSERT_NO_THROW(q = quantize_weight(s, c.x.data(), c.rows, c.cols));
      std::vector<float> fq(c.x.size());
      fake_quant_weight(s, c.x.data(), fq.data(), c.rows, c.cols);
      expect_bits_equal(weight_scheme_name(s) + " RTN", c, through_bytes(q), fq);
      ++checked;
    }
  }
  EXPECT_GT(checked, 10);
}

TEST_P(QuantCodecInvariant, LearnedScalesBytesPathEqualsFakeQuant) {
  const WeightScheme s = parse_weight_scheme(GetParam());
  std::mt19937 rng(77);
  std::uniform_real_distribution<float> factor(0.6f, 1.4f);
  std::uniform_int_distribution<int> dz(-2, 2);
  for (const Case& c : make_cases(limits_for(s), 128, 3)) {
    SCOPED_TRACE(c.name);
    const int64_t ns = c.rows * weight_scales_per_row(s, c.cols);
    std::vector<float> scales(static_cast<size_t>(ns));
    std::vector<int8_t> zps(s.symmetric ? 0 : size_t(ns));
    rtn_weight_params(s, c.x.data(), scales.data(), zps.empty() ? nullptr : zps.data(), c.rows,
                      c.cols);
    for (size_t i = 0; i < scales.size(); ++i) {
      float v = std::fabs(scales[i]) * factor(rng);
      if (s.is_gguf()) {
        if (i % 3 == 0) v = -v;  // GGUF scales are signed
        const float h = std::fabs(f16_to_f32(f32_to_f16(v)));
        if (h == 0.0f) v = 1e-3f;
        if (!std::isfinite(h)) v = 6e4f;
      }
      scales[i] = v;
    }
    for (auto& z : zps) z = int8_t(std::max(s.qmin(), std::min(s.qmax(), z + dz(rng))));
    const int8_t* zp = zps.empty() ? nullptr : zps.data();
    QuantizedWeight q;
    ASSERT_NO_THROW(q = quantize_weight_with_scales(s, c.x.data(), scales.data(), zp, c.rows, c.cols));
    // The bytes hold the rounded scale; replace q.scales by it so pack stores exactly that.
    for (auto& v : q.scales) {
      if (s.is_gguf()) v = f16_to_f32(f32_to_f16(v));
      else if (s.scale_dtype == DType::BF16) v = bf16_to_f32(f32_to_bf16(v));
      else if (s.scale_dtype == DType::F16) v = f16_to_f32(f32_to_f16(v));
    }
    std::vector<float> fq(c.x.size());
    fake_quant_weight_with_scales(s, c.x.data(), scales.data(), zp, fq.data(), c.rows, c.cols);
    expect_bits_equal(weight_scheme_name(s) + " learned", c, through_bytes(q), fq);
  }
}

TEST_P(QuantCodecInvariant, RejectsNonFiniteInputsNamingTheElement) {
  const WeightScheme s = parse_weight_scheme(GetParam());
  std::vector<float> x(2 * 128, 0.5f), y(x.size());
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    x[128 + 3] = bad;
    const std::string what = std::isnan(bad) ? "NaN" : (bad > 0 ? "+Inf" : "-Inf");
    for (int path = 0; path < 2; ++path) {
      try {
        if (path == 0) fake_quant_weight(s, x.data(), y.data(), 2, 128);
        if (path == 1) quantize_weight(s, x.data(), 2, 128);
        ADD_FAILURE() << "no error for " << what;
      } catch (const FormatError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(weight_scheme_name(s) + ": input row 1, element 3 is " + what),
                  std::string::npos)
            << msg;
      }
    }
  }
}

TEST_P(QuantCodecInvariant, RejectsRowsThatAreNotWholeBlocks) {
  const WeightScheme s = parse_weight_scheme(GetParam());
  if (s.kind == WeightKind::kChannel) GTEST_SKIP() << "any row length works per channel";
  std::vector<float> x(200, 0.5f), y(x.size());
  try {
    fake_quant_weight(s, x.data(), y.data(), 1, s.group + 8);
    ADD_FAILURE() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("row length " + std::to_string(s.group + 8) +
                                         " is not a multiple of the"),
              std::string::npos)
        << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(AllWeightSchemes, QuantCodecInvariant, ::testing::ValuesIn(kWeightSchemes),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           std::string n = i.param;
                           for (auto& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

// ------------------------------------------------------------------ activations and KV cache

TEST(QuantCodecInvariantOther, ActivationsBytesPathEqualsFakeQuant) {
  for (const char* name : {"int8_sym", "int8_sym_narrow", "int8_asym", "int16_sym", "int16_sym_full",
                           "int8_asym_rna", "int16_sym_rna"}) {
    const ActivationScheme a = parse_activation_scheme(name);
    std::mt19937 rng(11);
    std::uniform_real_distribution<float> f(0.5f, 1.5f);
    for (const Case& c : make_cases({1e38f, float(a.qmax()), !a.symmetric}, 128, 5)) {
      SCOPED_TRACE(c.name);
      const int64_t n = int64_t(c.x.size());
      float lo = 0, hi = 0;
      for (float v : c.x) {
        lo = std::fmin(lo, v);
        hi = std::fmax(hi, v);
      }
      for (int variant = 0; variant < 3; ++variant) {
        ActivationParams p = activation_params_from_range(a, lo, hi);
        if (variant == 1) p.scale *= f(rng);  // calibrated range narrower/wider than the data
        if (variant == 2 && !a.symmetric) p.zero_point = std::max(-128, std::min(127, p.zero_point + 5));
        std::vector<int16_t> q(static_cast<size_t>(n)), back(static_cast<size_t>(n));
        activation_encode(a, p, c.x.data(), q.data(), n);
        std::vector<uint8_t> b(activation_packed_bytes(a, n));
        activation_pack(a, q.data(), b.data(), n);
        activation_unpack(a, b.data(), back.data(), n);
        ASSERT_EQ(back, q);
        std::vector<float> y(static_cast<size_t>(n)), fq(static_cast<size_t>(n));
        activation_dequantize(a, p, back.data(), y.data(), n);
        fake_quant_activation(a, p, c.x.data(), fq.data(), n);
        expect_bits_equal(std::string(name), c, y, fq);
      }
    }
  }
}

TEST(QuantCodecInvariantOther, KvCacheBytesPathEqualsFakeQuant) {
  for (const char* name : {"kv_int8", "kv_int4"}) {
    const KvScheme k = parse_kv_scheme(name);
    for (int64_t head_dim : {128, 256}) {
      for (const Case& c : make_cases({1e38f, float(k.qmax()), false}, head_dim, 9)) {
        SCOPED_TRACE(c.name);
        std::vector<float> s(static_cast<size_t>(c.rows));
        kv_rtn_scales(k, c.x.data(), s.data(), c.rows, c.cols);
        std::vector<int8_t> lv(c.x.size()), back(c.x.size());
        kv_encode(k, c.x.data(), s.data(), lv.data(), c.rows, c.cols);
        std::vector<uint8_t> b(static_cast<size_t>(c.rows) * kv_packed_row_bytes(k, c.cols));
        kv_pack(k, lv.data(), b.data(), c.rows, c.cols);
        kv_unpack(k, b.data(), back.data(), c.rows, c.cols);
        ASSERT_EQ(back, lv);
        std::vector<float> y(c.x.size()), fq(c.x.size()), fq2(c.x.size());
        kv_dequantize(k, back.data(), s.data(), y.data(), c.rows, c.cols);
        fake_quant_kv(k, c.x.data(), fq.data(), c.rows, c.cols);
        expect_bits_equal(std::string(name), c, y, fq);
        for (auto& v : s) v *= 0.75f;  // a smaller (clipping) scale through the with-scale path
        kv_encode(k, c.x.data(), s.data(), lv.data(), c.rows, c.cols);
        kv_dequantize(k, lv.data(), s.data(), y.data(), c.rows, c.cols);
        fake_quant_kv_with_scales(k, c.x.data(), s.data(), fq2.data(), c.rows, c.cols);
        expect_bits_equal(std::string(name) + " scaled", c, y, fq2);
      }
    }
  }
}

// The property test must be able to fail: a fake-quant that forgets to canonicalise -0 (as a
// plain torch.round(x / s) * s would) differs from the bytes path on the adversarial rows.
TEST(QuantCodecInvariantOther, DetectsANaiveFakeQuant) {
  const WeightScheme s = parse_weight_scheme("int4_channel");
  const auto cases = make_cases(limits_for(s), 128, 1);
  int mismatches = 0;
  for (const Case& c : cases) {
    const QuantizedWeight q = quantize_weight(s, c.x.data(), c.rows, c.cols);
    const std::vector<float> y = through_bytes(q);
    for (int64_t r = 0; r < c.rows; ++r)
      for (int64_t j = 0; j < c.cols; ++j) {
        const size_t i = size_t(r * c.cols + j);
        const float naive = std::nearbyint(c.x[i] / q.scales[size_t(r)]) * q.scales[size_t(r)];
        const float clipped = std::fmax(-8 * q.scales[size_t(r)], std::fmin(7 * q.scales[size_t(r)], naive));
        if (float_bits(clipped) != float_bits(y[i])) ++mismatches;
      }
  }
  EXPECT_GT(mismatches, 0);
}
