// Fast mode's packed native weights: pack_channel_weight keeps the file's bytes and scales as they
// are, so its integer Linear matches the float Linear on decode_native_tensor's values, and it
// refuses what the exact path refuses (a level outside the scheme, a non-finite scale).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/channel_int_dot.h"
#include "engine/native_packed.h"
#include "io/error.h"
#include "io/half.h"

namespace gq::engine {
namespace {

struct Entry {
  std::vector<uint8_t> data, scales;
  native::TensorEntry t;
};

// rows x cols levels of `scheme` ("int4_channel@bf16", ...), random within its range, bf16/f32 scales.
Entry make_entry(const std::string& scheme, int64_t rows, int64_t cols, std::mt19937& rng) {
  Entry e;
  e.t.desc.name = "layers.0.mlp.up_proj.weight";
  e.t.desc.shape = {rows, cols};
  e.t.desc.scheme = quant::parse_weight_scheme(scheme);
  e.t.desc.encoding = native::encoding_of(e.t.desc.scheme);
  const auto& s = e.t.desc.scheme;
  const size_t rb = channel_row_bytes(s.bits, cols);
  e.data.assign(size_t(rows) * rb, 0);
  std::uniform_int_distribution<int> d(s.qmin(), s.qmax());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < cols; ++k)
      e.data[r * rb + k * s.bits / 8] |= uint8_t((d(rng) & ((1 << s.bits) - 1)) << (s.bits * (k % (8 / s.bits))));
  for (int64_t r = 0; r < rows; ++r) {
    const float v = 0.01f + 0.001f * float(r);
    if (s.scale_dtype == DType::F32) {
      e.scales.resize(e.scales.size() + 4);
      std::memcpy(e.scales.data() + 4 * r, &v, 4);
    } else {
      const uint16_t h = s.scale_dtype == DType::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
      e.scales.push_back(uint8_t(h & 0xff));
      e.scales.push_back(uint8_t(h >> 8));
    }
  }
  e.t.data = {e.data.data(), e.data.size(), 0};
  e.t.scales = {e.scales.data(), e.scales.size(), 0};
  return e;
}

TEST(NativePacked, KeepsTheFileBytesAndWidenedScales) {
  std::mt19937 rng(11);
  for (const char* scheme : {"int4_channel@bf16", "int2_channel@bf16", "int8_channel@f32", "int4_channel@f16"}) {
    const Entry e = make_entry(scheme, 9, 37, rng);
    ASSERT_TRUE(has_channel_kernel(e.t.desc)) << scheme;
    const PackedChannelWeight w = pack_channel_weight(e.t, "f.gqn: tensor 'x'");
    EXPECT_EQ(w.levels, e.data) << scheme;
    ASSERT_EQ(w.scales.size(), 9u);
    for (int64_t r = 0; r < 9; ++r) {
      const float v = 0.01f + 0.001f * float(r);
      const auto& s = e.t.desc.scheme;
      const float want = s.scale_dtype == DType::F32    ? v
                         : s.scale_dtype == DType::BF16 ? bf16_to_f32(f32_to_bf16(v))
                                                        : f16_to_f32(f32_to_f16(v));
      EXPECT_EQ(w.scales[size_t(r)], want) << scheme << " row " << r;
    }
  }
}

TEST(NativePacked, RefusesOutOfRangeLevelsNonFiniteScalesAndOtherEncodings) {
  std::mt19937 rng(2);
  Entry e = make_entry("int8_channel@f32", 2, 5, rng);
  e.data[3] = 0x80;  // -128: outside int8_channel's -127..127
  try {
    pack_channel_weight(e.t, "f.gqn: tensor 'x'");
    FAIL() << "accepted level -128";
  } catch (const FormatError& err) {
    EXPECT_NE(std::string(err.what()).find("f.gqn: tensor 'x': level -128"), std::string::npos) << err.what();
  }
  Entry f = make_entry("int4_channel@f32", 2, 5, rng);
  const float inf = INFINITY;
  std::memcpy(f.scales.data() + 4, &inf, 4);
  EXPECT_THROW(pack_channel_weight(f.t, "f.gqn: tensor 'x'"), FormatError);
  Entry g = make_entry("int4_g32_asym", 2, 64, rng);
  EXPECT_FALSE(has_channel_kernel(g.t.desc));
  EXPECT_THROW(pack_channel_weight(g.t, "f.gqn: tensor 'x'"), FormatError);
}

}  // namespace
}  // namespace gq::engine
