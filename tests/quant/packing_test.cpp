// Golden bytes for the compressed-tensors int32 packing (weights along dim 1, zero points along
// dim 0) and the TFLite dense sub-byte packing, plus round trips.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "io/error.h"
#include "quant/packing.h"

using namespace gq;
using namespace gq::quant;

namespace {

std::vector<uint8_t> le_bytes(const std::vector<int32_t>& w) {
  std::vector<uint8_t> b(w.size() * 4);
  std::memcpy(b.data(), w.data(), b.size());  // the host is little-endian, as safetensors is
  return b;
}

std::vector<int8_t> random_levels(size_t n, int bits, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-(1 << (bits - 1)), (1 << (bits - 1)) - 1);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = int8_t(d(rng));
  return v;
}

}  // namespace

TEST(QuantPacking, CompressedTensorsInt4WordOrder) {
  // levels 0..7 -> stored 8..15; element k of the word at bits 4k
  const int8_t lv[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  std::vector<int32_t> w(1);
  ct_pack_rows(lv, w.data(), 1, 8, 4);
  EXPECT_EQ(uint32_t(w[0]), 0xFEDCBA98u);
  // -8 -> 0, -1 -> 7, 7 -> 15, 0 -> 8, 1 -> 9: first element in the lowest nibble
  const int8_t lv2[8] = {-8, -1, 7, 0, -8, -8, -8, 1};
  ct_pack_rows(lv2, w.data(), 1, 8, 4);
  EXPECT_EQ(uint32_t(w[0]), 0x90008F70u);
  EXPECT_EQ(le_bytes(w), (std::vector<uint8_t>{0x70, 0x8F, 0x00, 0x90}));
}

TEST(QuantPacking, CompressedTensorsRowTailIsZeroPadded) {
  std::vector<int8_t> lv(2 * 10);
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 10; ++c) lv[size_t(r * 10 + c)] = int8_t(r == 0 ? c - 8 : 7 - c);
  ASSERT_EQ(ct_packed_cols(10, 4), 2);
  std::vector<int32_t> w(4);
  ct_pack_rows(lv.data(), w.data(), 2, 10, 4);
  EXPECT_EQ(uint32_t(w[0]), 0x76543210u);
  EXPECT_EQ(uint32_t(w[1]), 0x00000098u);  // elements 8, 9 -> stored 8, 9; the rest raw 0
  EXPECT_EQ(uint32_t(w[2]), 0x89ABCDEFu);  // 7..0 -> 15..8
  EXPECT_EQ(uint32_t(w[3]), 0x00000067u);  // -1, -2 -> 7, 6
  std::vector<int8_t> back(20);
  ct_unpack_rows(w.data(), back.data(), 2, 10, 4);
  EXPECT_EQ(back, lv);
}

TEST(QuantPacking, CompressedTensorsInt8AndInt2) {
  const int8_t b8[4] = {-128, -1, 0, 127};  // +128: 0, 127, 128, 255
  int32_t w = 0;
  ct_pack_rows(b8, &w, 1, 4, 8);
  EXPECT_EQ(uint32_t(w), 0xFF807F00u);
  int8_t b2[16];
  for (int i = 0; i < 16; ++i) b2[i] = int8_t((i % 4) - 2);  // stored 0, 1, 2, 3 repeating
  ct_pack_rows(b2, &w, 1, 16, 2);
  EXPECT_EQ(uint32_t(w), 0xE4E4E4E4u);
  EXPECT_EQ(ct_packed_cols(16, 2), 1);
  EXPECT_EQ(ct_packed_cols(17, 2), 2);
}

TEST(QuantPacking, CompressedTensorsZeroPointsAlongDim0) {
  // zero points [10, 2]: column 0 = r - 8, column 1 = 7 -> packed [2, 2], 8 rows per word
  std::vector<int8_t> zp(20);
  for (int r = 0; r < 10; ++r) {
    zp[size_t(r * 2 + 0)] = int8_t(r - 8);
    zp[size_t(r * 2 + 1)] = 7;
  }
  ASSERT_EQ(ct_packed_cols(10, 4), 2);
  std::vector<int32_t> w(4);
  ct_pack_cols(zp.data(), w.data(), 10, 2, 4);
  EXPECT_EQ(uint32_t(w[0]), 0x76543210u);  // word (0, col 0): rows 0..7
  EXPECT_EQ(uint32_t(w[1]), 0xFFFFFFFFu);  // word (0, col 1)
  EXPECT_EQ(uint32_t(w[2]), 0x00000098u);  // word (1, col 0): rows 8, 9
  EXPECT_EQ(uint32_t(w[3]), 0x000000FFu);
  std::vector<int8_t> back(20);
  ct_unpack_cols(w.data(), back.data(), 10, 2, 4);
  EXPECT_EQ(back, zp);
}

TEST(QuantPacking, TfliteGolden) {
  const int8_t i4[5] = {1, -1, -8, 7, 3};
  std::vector<uint8_t> out(tflite_packed_bytes(5, 4));
  ASSERT_EQ(out.size(), 3u);
  tflite_pack(i4, out.data(), 5, 4);
  EXPECT_EQ(out, (std::vector<uint8_t>{0xF1, 0x78, 0x03}));  // element 2i low nibble, no offset
  const int8_t i2[5] = {-2, -1, 0, 1, 1};
  out.assign(tflite_packed_bytes(5, 2), 0xAA);
  ASSERT_EQ(out.size(), 2u);
  tflite_pack(i2, out.data(), 5, 2);
  EXPECT_EQ(out, (std::vector<uint8_t>{0x4E, 0x01}));
  const int8_t i8[3] = {-128, -1, 5};
  out.assign(3, 0);
  tflite_pack(i8, out.data(), 3, 8);
  EXPECT_EQ(out, (std::vector<uint8_t>{0x80, 0xFF, 0x05}));
  int8_t back[5];
  tflite_unpack(std::vector<uint8_t>{0xF1, 0x78, 0x03}.data(), back, 5, 4);
  EXPECT_EQ(std::vector<int8_t>(back, back + 5), std::vector<int8_t>(i4, i4 + 5));
}

TEST(QuantPacking, RoundTripsAllWidths) {
  for (int bits : {1, 2, 4, 8}) {
    for (int64_t cols : {1, 7, 32, 33, 128}) {
      const int64_t rows = 5;
      const auto lv = random_levels(static_cast<size_t>(rows * cols), bits, uint32_t(bits * 1000 + cols));
      std::vector<int32_t> w(static_cast<size_t>(rows * ct_packed_cols(cols, bits)));
      ct_pack_rows(lv.data(), w.data(), rows, cols, bits);
      std::vector<int8_t> back(lv.size());
      ct_unpack_rows(w.data(), back.data(), rows, cols, bits);
      EXPECT_EQ(back, lv) << bits << " " << cols;
      std::vector<int32_t> wc(static_cast<size_t>(ct_packed_cols(rows, bits) * cols));
      ct_pack_cols(lv.data(), wc.data(), rows, cols, bits);
      std::fill(back.begin(), back.end(), 0);
      ct_unpack_cols(wc.data(), back.data(), rows, cols, bits);
      EXPECT_EQ(back, lv) << bits << " " << cols;
      std::vector<uint8_t> t(tflite_packed_bytes(rows * cols, bits));
      tflite_pack(lv.data(), t.data(), rows * cols, bits);
      std::fill(back.begin(), back.end(), 0);
      tflite_unpack(t.data(), back.data(), rows * cols, bits);
      EXPECT_EQ(back, lv) << bits << " " << cols;
    }
  }
}

TEST(QuantPacking, Errors) {
  const int8_t bad[2] = {0, 8};
  int32_t w;
  try {
    ct_pack_rows(bad, &w, 1, 2, 4);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("value 8 at flat index 1 does not fit in a signed 4-bit"),
              std::string::npos)
        << e.what();
  }
  uint8_t b;
  EXPECT_THROW(tflite_pack(bad, &b, 2, 4), FormatError);
  EXPECT_THROW(ct_packed_cols(4, 3), FormatError);
}
