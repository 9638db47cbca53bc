// The engine on GGUF files laid out as our exporter writes them: F32 files give the safetensors
// logits bit for bit, BF16 / F16 / Q8_0 / Q4_0 decode as ggml does, the config rebuilt from the
// gemma4.* keys is the checkpoint's, and every fault is one FormatError naming the file and tensor.
#include <gtest/gtest.h>

#include "../common/test_util.h"
#include "engine/dequantize.h"
#include "engine/forward.h"
#include "engine/gguf_config.h"
#include "engine/weights.h"
#include "gguf_fixture.h"
#include "io/half.h"
#include "reference_util.h"

namespace gq::engine {
namespace {

const std::vector<int32_t> kIds = {2, 17, 300, 5, 5, 411, 90, 1, 2, 33, 128, 7};

class F32Gguf : public ::testing::TestWithParam<std::string> {};

TEST_P(F32Gguf, GivesTheSafetensorsLogitsBitForBit) {
  const ModelWeights st = ModelWeights::load_safetensors(test::fixture(GetParam()));
  test::TempDir dir;
  test::write_model_gguf(dir.file("m.gguf"), st);
  const std::vector<float> want = logits(st, kIds);
  EXPECT_EQ(logits(ModelWeights::load_gguf(dir.file("m.gguf"), st.config()), kIds), want);
  // With the config rebuilt from the file alone.
  const ModelWeights g = ModelWeights::load_gguf(dir.file("m.gguf"));
  EXPECT_EQ(logits(g, kIds), want);
  EXPECT_EQ(g.size(), st.size());
}

TEST_P(F32Gguf, RebuiltConfigIsTheCheckpoints) {
  const Gemma4Config want = Gemma4Config::load(test::fixture(GetParam()));
  const ModelWeights st = ModelWeights::load_safetensors(test::fixture(GetParam()));
  test::TempDir dir;
  test::write_model_gguf(dir.file("m.gguf"), st);
  const Gemma4Config c = gemma4_config_from_gguf(GgufFile::open(dir.file("m.gguf")));
  EXPECT_EQ(c.source, dir.file("m.gguf"));
  EXPECT_EQ(c.vocab_size, want.vocab_size);
  EXPECT_EQ(c.hidden_size, want.hidden_size);
  EXPECT_EQ(c.num_attention_heads, want.num_attention_heads);
  EXPECT_EQ(c.layer_types, want.layer_types);
  EXPECT_EQ(c.layer_head_dim, want.layer_head_dim);
  EXPECT_EQ(c.layer_kv_heads, want.layer_kv_heads);
  EXPECT_EQ(c.layer_intermediate, want.layer_intermediate);
  EXPECT_EQ(c.kv_donor, want.kv_donor);
  EXPECT_EQ(c.attention_k_eq_v, want.attention_k_eq_v);
  EXPECT_EQ(c.use_double_wide_mlp, want.use_double_wide_mlp);
  EXPECT_EQ(c.sliding_window, want.sliding_window);
  EXPECT_EQ(c.rms_norm_eps, want.rms_norm_eps);
  EXPECT_EQ(c.final_logit_softcapping, want.final_logit_softcapping);
  EXPECT_EQ(c.hidden_size_per_layer_input, want.hidden_size_per_layer_input);
  EXPECT_EQ(c.vocab_size_per_layer_input, want.vocab_size_per_layer_input);
  EXPECT_EQ(c.num_kv_shared_layers, want.num_kv_shared_layers);
  EXPECT_EQ(c.enable_moe_block, want.enable_moe_block);
  EXPECT_EQ(c.num_experts, want.num_experts);
  EXPECT_EQ(c.top_k_experts, want.top_k_experts);
  EXPECT_EQ(c.moe_intermediate_size, want.moe_intermediate_size);
  EXPECT_EQ(c.tie_word_embeddings, want.tie_word_embeddings);
  EXPECT_EQ(c.rope_full.rope_type, want.rope_full.rope_type);
  EXPECT_EQ(c.rope_full.rope_theta, want.rope_full.rope_theta);
  EXPECT_EQ(c.rope_full.partial_rotary_factor, want.rope_full.partial_rotary_factor);
  EXPECT_EQ(c.rope_full.factor, want.rope_full.factor);
  EXPECT_EQ(c.rope_sliding.rope_theta, want.rope_sliding.rope_theta);
}

INSTANTIATE_TEST_SUITE_P(Gemma4Tiny, F32Gguf, ::testing::Values("dense_ple", "dense_keqv", "moe_keqv"));

// The bf16 fixture's weights are bf16 values: a BF16 GGUF of them holds them exactly.
TEST(Gguf, Bf16WeightsGiveTheBf16CheckpointsLogits) {
  const ModelWeights st = ModelWeights::load_safetensors(test::fixture("dense_ple_mm_bf16"));
  test::TempDir dir;
  test::GgufModelOptions o;
  o.type_of = [](const std::string&) { return GgmlType::BF16; };
  test::write_model_gguf(dir.file("m.gguf"), st, o);
  const ModelWeights g = ModelWeights::load_gguf(dir.file("m.gguf"));
  const auto ref = SafetensorsFile::open(test::fixture("dense_ple_mm_bf16") + "/reference_exact.safetensors");
  const std::vector<int32_t> ids = test::reference_ids(*ref, "a");
  const std::vector<float> got = logits(g, ids);
  EXPECT_EQ(got, logits(st, ids));
  const test::LogitComparison r = test::compare_logits(got, ref->tensor("a.logits").to_f32(), g.config().vocab_size);
  EXPECT_LE(r.max_abs_diff, 1e-4);
  EXPECT_EQ(r.argmax_mismatches, 0);
}

TEST(Gguf, F16WeightsAreTheF16RoundedValues) {
  const ModelWeights st = ModelWeights::load_safetensors(test::fixture("dense_keqv"));
  test::TempDir dir;
  test::GgufModelOptions o;
  o.type_of = [](const std::string&) { return GgmlType::F16; };
  test::write_model_gguf(dir.file("m.gguf"), st, o);
  const ModelWeights g = ModelWeights::load_gguf(dir.file("m.gguf"));
  const Tensor& want = st.get("layers.2.self_attn.q_proj.weight");
  const Tensor& got = g.get("layers.2.self_attn.q_proj.weight");
  ASSERT_EQ(got.shape, want.shape);
  for (size_t i = 0; i < want.data.size(); ++i) ASSERT_EQ(got.data[i], f16_to_f32(f32_to_f16(want.data[i]))) << i;
  EXPECT_EQ(g.get("norm.weight").data, st.get("norm.weight").data);  // 1-D tensors stay F32
}

// Blocks written by hand: Q8_0 is fp16 d + 32 int8 (y = q * d); Q4_0 is fp16 d + 16 bytes whose
// low nibbles are elements 0..15 and high nibbles 16..31 (y = (q - 8) * d).
TEST(Gguf, DecodesHandWrittenQ8_0AndQ4_0Blocks) {
  std::vector<uint8_t> q8 = {0x00, 0x38};  // fp16 0.5
  for (int j = 0; j < 32; ++j) q8.push_back(uint8_t(int8_t(j - 16)));
  std::vector<uint8_t> q8b = {0x00, 0xbc};  // fp16 -1.0
  for (int j = 0; j < 32; ++j) q8b.push_back(uint8_t(int8_t(j == 0 ? -128 : j == 1 ? 127 : 3)));
  q8.insert(q8.end(), q8b.begin(), q8b.end());
  std::vector<uint8_t> q4 = {0x00, 0x34};  // fp16 0.25
  for (int j = 0; j < 16; ++j) q4.push_back(uint8_t((15 - j) << 4 | j));

  test::TempDir dir;
  {
    GgufWriter w(dir.file("q.gguf"));
    w.add_tensor("q8", GgmlType::Q8_0, {64});
    w.add_tensor("q4", GgmlType::Q4_0, {32});
    w.write(q8.data(), q8.size());
    w.write(q4.data(), q4.size());
    w.finish();
  }
  const GgufFile f = GgufFile::open(dir.file("q.gguf"));
  const std::vector<float> a = dequantize_tensor(f, f.tensor("q8"));
  ASSERT_EQ(a.size(), 64u);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(a[size_t(j)], 0.5f * float(j - 16)) << j;
  EXPECT_EQ(a[32], 128.0f);
  EXPECT_EQ(a[33], -127.0f);
  for (int j = 34; j < 64; ++j) EXPECT_EQ(a[size_t(j)], -3.0f) << j;
  const std::vector<float> b = dequantize_tensor(f, f.tensor("q4"));
  ASSERT_EQ(b.size(), 32u);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(b[size_t(j)], 0.25f * float(j - 8)) << j;
    EXPECT_EQ(b[size_t(j + 16)], 0.25f * float(15 - j - 8)) << j + 16;
  }
}

// Q2_0 by hand: fp16 d + 16 bytes for 64 values, element j at bits 2 * (j % 4) of byte j / 4,
// stored as level + 1; 0xE4 holds levels -1, 0, 1, 2.
TEST(Gguf, DecodesAHandWrittenQ2_0Block) {
  std::vector<uint8_t> q2 = {0x00, 0x38};  // fp16 0.5
  for (int j = 0; j < 16; ++j) q2.push_back(0xE4);
  test::TempDir dir;
  {
    GgufWriter w(dir.file("q2.gguf"));
    w.add_tensor("q2", GgmlType::Q2_0, {64});
    w.write(q2.data(), q2.size());
    w.finish();
  }
  const GgufFile f = GgufFile::open(dir.file("q2.gguf"));
  const std::vector<float> a = dequantize_tensor(f, f.tensor("q2"));
  ASSERT_EQ(a.size(), 64u);
  for (int j = 0; j < 64; ++j) EXPECT_EQ(a[size_t(j)], 0.5f * float(j % 4 - 1)) << j;
}

// A whole model through the Q8_0 path decodes to what ggml's reference quantizer stored.
TEST(Gguf, Q8_0ModelDecodesEveryBlock) {
  const ModelWeights st = ModelWeights::load_safetensors(test::fixture("dense_keqv"));
  test::TempDir dir;
  test::GgufModelOptions o;
  o.type_of = [](const std::string&) { return GgmlType::Q8_0; };
  test::write_model_gguf(dir.file("m.gguf"), st, o);
  const ModelWeights g = ModelWeights::load_gguf(dir.file("m.gguf"));
  const Tensor& want = st.get("layers.0.mlp.down_proj.weight");
  const Tensor& got = g.get("layers.0.mlp.down_proj.weight");
  for (size_t b = 0; b < want.data.size(); b += 32) {
    float amax = 0;
    for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(want.data[b + j]));
    const float d = f16_to_f32(f32_to_f16(amax / 127.0f));
    for (size_t j = 0; j < 32; ++j)
      ASSERT_EQ(got.data[b + j], float(std::lround(want.data[b + j] * (127.0f / amax))) * d) << b + j;
  }
  EXPECT_EQ(logits(g, kIds).size(), kIds.size() * 512);
}

TEST(Gguf, RefusesATypeTheEngineDoesNotDecode) {
  const ModelWeights st = ModelWeights::load_safetensors(test::fixture("dense_keqv"));
  test::TempDir dir;
  test::GgufModelOptions o;
  o.type_of = [](const std::string& n) { return n == "layers.0.self_attn.q_proj.weight" ? GgmlType::Q5_0 : GgmlType::F32; };
  test::write_model_gguf(dir.file("m.gguf"), st, o);
  for (WeightForm form : {WeightForm::Exact, WeightForm::Fast}) {
    const std::string msg = test::error_of([&] { ModelWeights::load_gguf(dir.file("m.gguf"), form); });
    EXPECT_CONTAINS(msg, dir.file("m.gguf"));
    EXPECT_CONTAINS(msg, "'blk.0.attn_q.weight'");
    EXPECT_CONTAINS(msg, "Q5_0");
  }
}

TEST(Gguf, MissingTensorNamesFileAndTensor) {
  const ModelWeights st = ModelWeights::load_safetensors(test::fixture("dense_ple"));
  test::TempDir dir;
  test::GgufModelOptions o;
  o.drop = "layers.1.mlp.up_proj.weight";
  test::write_model_gguf(dir.file("m.gguf"), st, o);
  const std::string msg = test::error_of([&] { ModelWeights::load_gguf(dir.file("m.gguf"), st.config()); });
  EXPECT_CONTAINS(msg, dir.file("m.gguf"));
  EXPECT_CONTAINS(msg, "'blk.1.ffn_up.weight'");
}

TEST(Gguf, MisshapenTensorNamesFileTensorAndShapes) {
  const ModelWeights st = ModelWeights::load_safetensors(test::fixture("dense_ple"));
  test::TempDir dir;
  test::GgufModelOptions o;
  o.halve_rows = "layers.2.self_attn.o_proj.weight";  // [128, 256] written as [64, 256]
  test::write_model_gguf(dir.file("m.gguf"), st, o);
  const std::string msg = test::error_of([&] { ModelWeights::load_gguf(dir.file("m.gguf"), st.config()); });
  EXPECT_CONTAINS(msg, dir.file("m.gguf"));
  EXPECT_CONTAINS(msg, "'blk.2.attn_output.weight'");
  EXPECT_CONTAINS(msg, "[64, 256]");
  EXPECT_CONTAINS(msg, "[128, 256]");
}

// layer_scalar is optional (1 when absent), as in HF and llama.cpp.
TEST(Gguf, AbsentLayerScalarIsOne) {
  const ModelWeights st = ModelWeights::load_safetensors(test::fixture("dense_keqv"));
  test::TempDir dir;
  test::GgufModelOptions o;
  o.drop = "layers.0.layer_scalar";
  test::write_model_gguf(dir.file("m.gguf"), st, o);
  const ModelWeights g = ModelWeights::load_gguf(dir.file("m.gguf"));
  EXPECT_FALSE(g.has("layers.0.layer_scalar"));
  EXPECT_TRUE(g.has("layers.1.layer_scalar"));
}

TEST(Gguf, WithoutGemma4KeysTheConfigCannotBeRebuilt) {
  const ModelWeights st = ModelWeights::load_safetensors(test::fixture("dense_keqv"));
  test::TempDir dir;
  test::GgufModelOptions o;
  o.metadata = false;
  test::write_model_gguf(dir.file("m.gguf"), st, o);
  const std::string msg = test::error_of([&] { ModelWeights::load_gguf(dir.file("m.gguf")); });
  EXPECT_CONTAINS(msg, dir.file("m.gguf"));
  EXPECT_CONTAINS(msg, "general.architecture");
  // With the checkpoint's config it loads.
  EXPECT_EQ(logits(ModelWeights::load_gguf(dir.file("m.gguf"), st.config()), kIds), logits(st, kIds));
}

}  // namespace
}  // namespace gq::engine
