// The Gemma 4 checkpoint layout every reader shares: the text prefix either layout uses, which
// tensors may be absent or sit beside the text model, and errors that name the file and tensor.
#include "model/checkpoint_layout.h"

#include <gtest/gtest.h>

#include <cstring>

#include "io/error.h"
#include "tests/common/test_util.h"

namespace gq {
namespace {

using test::error_of;

// A checkpoint folder holding float32 tensors of the given names and shapes (values 0, 1, 2, ...).
class TempCheckpoint {
 public:
  explicit TempCheckpoint(const std::vector<std::pair<std::string, std::vector<int64_t>>>& tensors,
                          DType dtype = DType::F32) {
    std::vector<std::vector<float>> data;
    std::vector<TensorToWrite> out;
    data.reserve(tensors.size());
    for (const auto& [name, shape] : tensors) {
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      data.emplace_back(size_t(n));
      for (int64_t i = 0; i < n; ++i) data.back()[size_t(i)] = float(i);
      out.push_back({name, dtype, shape, data.back().data(), size_t(n) * 4});
    }
    write_safetensors(tmp_.file("model.safetensors"), out);
  }
  std::string dir() const { return tmp_.path().string(); }

 private:
  test::TempDir tmp_;
};

Gemma4Config config_with_prefix(const std::string& prefix) {
  Gemma4Config c;
  c.weight_prefix = prefix;
  return c;
}

TEST(CheckpointLayout, DetectsThePrefixTheCheckpointUses) {
  const TempCheckpoint text({{"model.embed_tokens.weight", {2, 2}}});
  const TempCheckpoint mm({{"model.language_model.embed_tokens.weight", {2, 2}}});
  const TempCheckpoint neither({{"other.weight", {2}}});
  const Checkpoint t = Checkpoint::open(text.dir()), m = Checkpoint::open(mm.dir()), n = Checkpoint::open(neither.dir());
  EXPECT_EQ(detect_prefix(config_with_prefix(kTextPrefix), t), kTextPrefix);
  EXPECT_EQ(detect_prefix(config_with_prefix(kTextPrefix), m), kMultimodalTextPrefix);
  EXPECT_EQ(detect_prefix(config_with_prefix(kMultimodalTextPrefix), t), kTextPrefix);
  EXPECT_EQ(detect_prefix(config_with_prefix(kMultimodalTextPrefix), n), kMultimodalTextPrefix);  // the config's
}

TEST(CheckpointLayout, StoredNamesKeepTheHeadUnprefixed) {
  EXPECT_EQ(stored_name(kMultimodalTextPrefix, "layers.0.mlp.up_proj.weight"), "model.language_model.layers.0.mlp.up_proj.weight");
  EXPECT_EQ(stored_name(kTextPrefix, "lm_head.weight"), "lm_head.weight");
}

TEST(CheckpointLayout, TowersAreNotTextTensors) {
  for (const char* n : {"model.vision_tower.encoder.weight", "model.audio_tower.x", "model.embed_vision.weight",
                        "model.embed_audio.weight", "model.language_model.embed_tokens.weight"})
    EXPECT_TRUE(is_other_tower(n)) << n;
  for (const char* n : {"model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight", "lm_head.weight"})
    EXPECT_FALSE(is_other_tower(n)) << n;
}

TEST(CheckpointLayout, FindsSpecTensorsAndNamesWhatIsWrong) {
  const TempCheckpoint ck({{"model.norm.weight", {4}}, {"model.embed_tokens.weight", {3, 4}}});
  const Checkpoint c = Checkpoint::open(ck.dir());
  const TensorSpec norm{"norm.weight", {4}, Component::Norm};
  ASSERT_NE(find_spec_tensor(c, norm, "model.norm.weight"), nullptr);
  EXPECT_EQ(find_spec_tensor(c, norm, "model.norm.weight")->shape, (std::vector<int64_t>{4}));

  const TensorSpec embed{"embed_tokens.weight", {5, 4}, Component::Embedding};
  const std::string shape = error_of([&] { find_spec_tensor(c, embed, "model.embed_tokens.weight"); });
  EXPECT_EQ(shape, ck.dir() + "/model.safetensors: tensor 'model.embed_tokens.weight' has shape [3, 4], config implies [5, 4]");

  const TensorSpec q{"layers.0.self_attn.q_proj.weight", {4, 4}, Component::Attention, 0};
  const std::string missing = error_of([&] { find_spec_tensor(c, q, "model.layers.0.self_attn.q_proj.weight"); });
  EXPECT_EQ(missing, ck.dir() + ": tensor 'model.layers.0.self_attn.q_proj.weight' is missing (expected shape [4, 4])");

  TensorSpec unused = q;
  unused.unused = true;
  EXPECT_EQ(find_spec_tensor(c, unused, "model.layers.0.self_attn.q_proj.weight"), nullptr);
  const TensorSpec scalar{"layers.0.layer_scalar", {1}, Component::Norm, 0};
  EXPECT_EQ(find_spec_tensor(c, scalar, "model.layers.0.layer_scalar"), nullptr);  // absent = 1
}

TEST(CheckpointLayout, RefusesIntegerTensorsWhereFloatsBelong) {
  const TempCheckpoint ck({{"model.norm.weight", {4}}}, DType::I32);
  const Checkpoint c = Checkpoint::open(ck.dir());
  EXPECT_EQ(error_of([&] { require_float_tensor(c.tensor("model.norm.weight")); }),
            ck.dir() + "/model.safetensors: tensor 'model.norm.weight' has dtype I32, expected a float type");
}

TEST(CheckpointLayout, CountsOtherTowersAndRefusesUnknownTextTensors) {
  const TempCheckpoint ck({{"model.embed_tokens.weight", {2, 2}}, {"model.vision_tower.w", {2}}, {"model.embed_audio.w", {2}}});
  const Checkpoint c = Checkpoint::open(ck.dir());
  EXPECT_EQ(count_other_tensors(c, kTextPrefix, {"model.embed_tokens.weight"}), 2u);

  const TempCheckpoint bad({{"model.embed_tokens.weight", {2, 2}}, {"model.layers.9.bogus", {2}}});
  const Checkpoint b = Checkpoint::open(bad.dir());
  EXPECT_EQ(error_of([&] { count_other_tensors(b, kTextPrefix, {"model.embed_tokens.weight"}); }),
            bad.dir() + ": tensor 'model.layers.9.bogus' is not part of a Gemma 4 text model with this config");

  // Under the multimodal prefix the towers sit outside it; a stray text tensor is still refused.
  const TempCheckpoint mm({{"model.language_model.x", {2}}, {"model.vision_tower.w", {2}}});
  const Checkpoint m = Checkpoint::open(mm.dir());
  EXPECT_NE(error_of([&] { count_other_tensors(m, kMultimodalTextPrefix, {}); }).find("'model.language_model.x'"), std::string::npos);
  EXPECT_EQ(count_other_tensors(m, kMultimodalTextPrefix, {"model.language_model.x"}), 1u);
}

TEST(CheckpointLayout, RowSlicesViewTheRowsInPlace) {
  const TempCheckpoint ck({{"w", {4, 3}}});
  const Checkpoint c = Checkpoint::open(ck.dir());
  const TensorView& w = c.tensor("w");
  const TensorView s = row_slice(w, 3, 1, 2);
  EXPECT_EQ(s.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(s.nbytes, 24u);
  EXPECT_EQ(s.to_f32(), (std::vector<float>{3, 4, 5, 6, 7, 8}));
  // A bank [E, R, C] seen as [E * R, C].
  EXPECT_EQ(row_slice(w, 6, 1, 1).to_f32(), (std::vector<float>{6, 7, 8, 9, 10, 11}));
}

TEST(CheckpointLayout, FloatDtypeIsTheWeightsMajority) {
  const std::string data = GQ_TEST_DATA;
  // float32 throughout.
  const std::string f32 = data + "/gemma4-tiny/dense_ple";
  EXPECT_EQ(checkpoint_float_dtype(Gemma4Config::load(f32), Checkpoint::open(f32)), DType::F32);
  // bf16 weights beside float32 norms and scalars: bf16.
  const std::string bf16 = data + "/gemma4-tiny/dense_ple_mm_bf16";
  EXPECT_EQ(checkpoint_float_dtype(Gemma4Config::load(bf16), Checkpoint::open(bf16)), DType::BF16);
  // No 2-D text tensor: the config's dtype.
  const TempCheckpoint none({{"model.norm.weight", {4}}});
  Gemma4Config cfg = Gemma4Config::load(f32);
  cfg.dtype = "float16";
  EXPECT_EQ(checkpoint_float_dtype(cfg, Checkpoint::open(none.dir())), DType::F16);
}

TEST(CheckpointLayout, ConfigFloatDtype) {
  Gemma4Config c;
  for (const auto& [name, t] : std::vector<std::pair<std::string, DType>>{
           {"float32", DType::F32}, {"float16", DType::F16}, {"bfloat16", DType::BF16}, {"float64", DType::BF16}}) {
    c.dtype = name;
    EXPECT_EQ(config_float_dtype(c), t) << name;
  }
}

TEST(CheckpointLayout, StringHelpers) {
  EXPECT_EQ(shape_str({}), "[]");
  EXPECT_EQ(shape_str({2, 3}), "[2, 3]");
  EXPECT_TRUE(starts_with("model.layers", "model."));
  EXPECT_FALSE(starts_with("mod", "model."));
  EXPECT_TRUE(ends_with("layers.0.layer_scalar", "layer_scalar"));
  EXPECT_FALSE(ends_with("scalar", "layer_scalar"));
}

}  // namespace
}  // namespace gq
