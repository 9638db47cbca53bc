// compressed-tensors int32 packing as the exporter writes it: the independent reader's field order
// on golden words, then a crafted q/k/v whose written words and zero points are the golden ones.
#include "export/compressed_tensors.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tests/common/test_util.h"
#include "tests/export/ct_reader.h"
#include "tests/export/ct_runs.h"

namespace gq {
namespace {

using namespace ct_test;

TEST(CompressedTensorsDecoder, GoldenWords) {
  // Levels -8..7 at positions 0..15: codes 0..15, first element in the lowest nibble.
  const int32_t w0 = int32_t(0x76543210u), w1 = int32_t(0xFEDCBA98u);
  for (int k = 0; k < 8; ++k) {
    EXPECT_EQ(field(w0, k, 4), k - 8);
    EXPECT_EQ(field(w1, k, 4), k);
  }
  EXPECT_EQ(field(int32_t(0x80FF7F00u), 0, 8), -128);  // 8-bit: +128 offset, 4 per word
  EXPECT_EQ(field(int32_t(0x80FF7F00u), 1, 8), -1);
  EXPECT_EQ(field(int32_t(0x80FF7F00u), 2, 8), 127);
  EXPECT_EQ(field(int32_t(0x80FF7F00u), 3, 8), 0);
}

// A crafted q/k/v with learned scale 1 and levels ((c + r) mod 16) - 8: the written words are the
// golden ones; asymmetric zero points ((r mod 16) - 8) are packed along the output dim.
TEST(CompressedTensors, PackingOrderIsGolden) {
  for (const bool asym : {false, true}) {
    TempDir d;
    Tensors w = load_all(fixture("dense_keqv"));
    Tensors qp;
    const std::string scheme_name = asym ? "int4_g32_asym" : "int4_g32";
    for (const char* p : {"q_proj", "k_proj", "v_proj"}) {
      const std::string m = std::string("layers.0.self_attn.") + p;
      auto& [shape, x] = w.at("model." + m + ".weight");
      const int64_t rows = shape[0], cols = shape[1], g = cols / 32;
      std::vector<float> s(size_t(rows * g), 1.0f), z(size_t(rows * g));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = 0; k < g; ++k) z[size_t(r * g + k)] = asym ? float(r % 16 - 8) : 0.0f;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) x[size_t(r * cols + c)] = float((c + r) % 16 - 8) - z[size_t(r * g + c / 32)];
      qp[m + ".weight.scale"] = {{rows, g}, s};
      if (asym) qp[m + ".weight.zero_point"] = {{rows, g}, z};
    }
    const std::string recipe = R"({"weights": [{"targets": ["re:layers\\.0\\.self_attn\\.[qkv]_proj"], "scheme": ")" +
                               scheme_name + R"("}], "learnable_scales": true})";
    const std::string run = make_run(d, "dense_keqv", w, recipe, qp);
    const CompressedTensorsExportResult r = export_compressed_tensors(run, d.file("out"), f32_scales());
    EXPECT_TRUE(r.from_run);
    EXPECT_EQ(r.learned_modules, 3u);
    const Checkpoint ck = Checkpoint::open(d.file("out"));
    const TensorView& p = ck.tensor("model.layers.0.self_attn.q_proj.weight_packed");
    EXPECT_EQ(p.shape, (std::vector<int64_t>{128, 16}));
    EXPECT_EQ(i32_at(p, 0), int32_t(0x76543210u));
    EXPECT_EQ(i32_at(p, 1), int32_t(0xFEDCBA98u));
    EXPECT_EQ(i32_at(p, 16), int32_t(0x87654321u));  // row 1 starts one level up
    EXPECT_EQ(i32_at(p, 17), int32_t(0x0FEDCBA9u));
    const Decoded dq = decode_packed(ck, "model.layers.0.self_attn.q_proj");
    for (int64_t r = 0; r < dq.rows; ++r)
      for (int64_t c = 0; c < dq.cols; ++c) ASSERT_EQ(dq.levels[size_t(r * dq.cols + c)], (c + r) % 16 - 8) << r << "," << c;
    if (asym) {
      const TensorView& z = ck.tensor("model.layers.0.self_attn.q_proj.weight_zero_point");
      EXPECT_EQ(z.shape, (std::vector<int64_t>{16, 4}));  // 128 rows / 8 per word, 4 groups
      for (int64_t g = 0; g < 4; ++g) {
        EXPECT_EQ(i32_at(z, g), int32_t(0x76543210u));      // rows 0..7: zero points -8..-1
        EXPECT_EQ(i32_at(z, 4 + g), int32_t(0xFEDCBA98u));  // rows 8..15: 0..7
      }
      const json cfg = config_of(d.file("out"));
      EXPECT_EQ(cfg["quantization_config"]["config_groups"]["group_0"]["weights"]["symmetric"], false);
    } else {
      EXPECT_FALSE(ck.has("model.layers.0.self_attn.q_proj.weight_zero_point"));
    }
  }
}

}  // namespace
}  // namespace gq
