// Unquantized HF checkpoints we write load back bit for bit (single file and sharded, f32 and
// bf16), and the config we write parses back to the same config.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <torch/types.h>

#include "fixture_util.h"
#include "io/error.h"
#include "qat/checkpoint_loader.h"
#include "qat/checkpoint_writer.h"
#include "tests/common/test_util.h"

namespace gq {
namespace {

namespace fs = std::filesystem;

class HfRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(HfRoundTrip, WeightsAndConfigComeBackExactly) {
  Gemma4Model m = load_model(test::fixture_dir(GetParam()));
  const test::TempDir tmp;
  const fs::path dir = tmp.path() / "hf";
  for (const bool sharded : {false, true}) {
    for (const DType dt : {DType::F32, DType::BF16}) {
      SCOPED_TRACE(std::string(sharded ? "sharded " : "single ") + dtype_name(dt));
      fs::remove_all(dir);
      HfSaveOptions opt;
      opt.dtype = dt;
      opt.max_shard_bytes = sharded ? 100000 : (int64_t(1) << 40);
      save_hf_checkpoint(m, dir.string(), opt);
      EXPECT_EQ(fs::exists(dir / "model.safetensors.index.json"), sharded);
      Gemma4Model back = load_model(dir.string());
      auto a = m->named_parameters(true), b = back->named_parameters(true);
      ASSERT_EQ(a.size(), b.size());
      for (const auto& p : a) {
        const at::Tensor expect = dt == DType::F32 ? p.value() : p.value().to(at::kBFloat16).to(at::kFloat);
        EXPECT_TRUE(at::equal(b[p.key()], expect)) << p.key();
      }
      const Gemma4Config& c1 = m->config();
      const Gemma4Config& c2 = back->config();
      EXPECT_EQ(c2.layer_head_dim, c1.layer_head_dim);
      EXPECT_EQ(c2.layer_kv_heads, c1.layer_kv_heads);
      EXPECT_EQ(c2.kv_donor, c1.kv_donor);
      EXPECT_EQ(c2.layer_intermediate, c1.layer_intermediate);
      EXPECT_EQ(c2.final_logit_softcapping, c1.final_logit_softcapping);
      EXPECT_EQ(c2.to_causal_lm_json().substr(0, 30), c1.to_causal_lm_json().substr(0, 30));
      Gemma4Config c3 = c1;
      c3.dtype = c2.dtype;  // the written dtype follows the saved weights
      EXPECT_EQ(c2.to_causal_lm_json(), c3.to_causal_lm_json());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfRoundTrip, ::testing::Values("dense_ple", "moe_keqv", "dense_keqv"));

// The multimodal layout: text weights under model.language_model., the source's other tensors
// (a stand-in vision tower here) copied byte for byte, the source config with its text part.
TEST(HfMultimodalExport, CopiesTowersThroughAndRoundTripsTheText) {
  const test::TempDir tmp;
  const fs::path src = tmp.path() / "src", out = tmp.path() / "out";
  fs::create_directories(src);
  // Source: the bf16 multimodal fixture's text weights plus a vision tensor.
  const Checkpoint fixture = Checkpoint::open(test::fixture_dir("dense_ple_mm_bf16"));
  std::vector<TensorToWrite> tensors;
  for (const std::string& n : fixture.names()) {
    const TensorView& v = fixture.tensor(n);
    tensors.push_back({n, v.dtype, v.shape, v.data, v.nbytes});
  }
  std::vector<uint16_t> vision(6 * 4);
  for (size_t i = 0; i < vision.size(); ++i) vision[i] = uint16_t(0x3f80 + i);
  tensors.push_back({"model.vision_tower.encoder.weight", DType::BF16, {6, 4}, vision.data(), vision.size() * 2});
  write_safetensors((src / "model.safetensors").string(), tensors);
  fs::copy_file(test::fixture_dir("dense_ple_mm_bf16") + "/config.json", src / "config.json");

  Gemma4Model m = load_model(src.string());
  HfSaveOptions opt;
  opt.dtype = DType::BF16;
  opt.multimodal_source = src.string();
  save_hf_checkpoint(m, out.string(), opt);

  const Checkpoint back = Checkpoint::open(out.string());
  ASSERT_TRUE(back.has("model.vision_tower.encoder.weight"));
  const TensorView& v = back.tensor("model.vision_tower.encoder.weight");
  EXPECT_EQ(v.dtype, DType::BF16);
  EXPECT_EQ(std::memcmp(v.data, vision.data(), v.nbytes), 0);
  EXPECT_TRUE(back.has("model.language_model.embed_tokens.weight"));
  EXPECT_FALSE(back.has("model.embed_tokens.weight"));
  const Gemma4Config cfg = Gemma4Config::load(out.string());
  EXPECT_EQ(cfg.architecture, "Gemma4ForConditionalGeneration");
  EXPECT_EQ(cfg.weight_prefix, "model.language_model.");
  Gemma4Model reloaded = load_model(out.string());
  auto a = m->named_parameters(true), b = reloaded->named_parameters(true);
  for (const auto& p : a) EXPECT_TRUE(at::equal(b[p.key()], p.value())) << p.key();  // bf16 values: exact
}

// `export --format hf` replaces an earlier export as a whole (no stale shards, index or files) and
// refuses to replace a folder that is not a checkpoint.
TEST(HfExport, ReplacesAnEarlierExportWholeAndRefusesOtherFolders) {
  const test::TempDir tmp;
  const fs::path& root = tmp.path();
  const fs::path out = root / "out", tok = root / "tokenizer.json";
  std::ofstream(tok) << "{}";
  Gemma4Model m = load_model(test::fixture_dir("dense_ple"));
  HfSaveOptions opt;
  opt.max_shard_bytes = 100000;
  export_hf_checkpoint(m, out.string(), opt, {tok.string()});
  EXPECT_TRUE(fs::exists(out / "model.safetensors.index.json"));
  EXPECT_TRUE(fs::exists(out / "tokenizer.json"));

  opt.max_shard_bytes = int64_t(1) << 40;
  export_hf_checkpoint(m, out.string(), opt);
  std::set<std::string> files;
  for (const auto& e : fs::directory_iterator(out)) files.insert(e.path().filename().string());
  EXPECT_EQ(files, (std::set<std::string>{"config.json", "model.safetensors"}));
  std::set<std::string> beside;
  for (const auto& e : fs::directory_iterator(root)) beside.insert(e.path().filename().string());
  EXPECT_EQ(beside, (std::set<std::string>{"out", "tokenizer.json"}));  // no staging or previous folder left
  Gemma4Model back = load_model(out.string());
  EXPECT_EQ(back->named_parameters(true).size(), m->named_parameters(true).size());

  const fs::path other = root / "other";
  fs::create_directories(other);
  std::ofstream(other / "notes.txt") << "not a checkpoint";
  try {
    export_hf_checkpoint(m, other.string(), opt);
    ADD_FAILURE() << "a folder that is not a checkpoint must not be replaced";
  } catch (const FormatError& e) {
    EXPECT_EQ(std::string(e.what()), other.string() + ": exists and is not a checkpoint folder; remove it or choose another output folder");
  }
  EXPECT_TRUE(fs::exists(other / "notes.txt"));
}

// A config whose sizes disagree with the weights is refused naming the file and tensor before the
// model allocates what the config says (here 2^24-wide MLPs: tens of GB).
TEST(LoadModel, ConfigThatDisagreesWithTheWeightsIsRefusedBeforeAllocating) {
  test::TempDir d;
  const std::string fix = test::fixture_dir("dense_keqv");
  std::filesystem::copy_file(fix + "/model.safetensors", d.file("model.safetensors"));
  std::string cfg = test::read_file(fix + "/config.json");
  const std::string key = "\"intermediate_size\": ";
  const size_t at = cfg.find(key);
  ASSERT_NE(at, std::string::npos);
  const size_t end = cfg.find_first_of(",}", at);
  cfg.replace(at, end - at, key + "16777216");
  test::write_file(d.file("config.json"), cfg);
  const std::string msg = test::error_of([&] { load_model(d.path().string()); });
  EXPECT_NE(msg.find("model.safetensors: tensor 'model.layers.0.mlp.gate_proj.weight' has shape"), std::string::npos) << msg;
  EXPECT_NE(msg.find("config implies [16777216,"), std::string::npos) << msg;
}

}  // namespace
}  // namespace gq
