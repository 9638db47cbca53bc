// Unquantized HF checkpoints we write load back bit for bit (single file and sharded, f32 and
// bf16), and the config we write parses back to the same config.
#include <gtest/gtest.h>

#include <filesystem>

#include <torch/types.h>

#include "fixture_util.h"
#include "qat/checkpoint_loader.h"
#include "qat/checkpoint_writer.h"

namespace gq {
namespace {

namespace fs = std::filesystem;

class HfRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(HfRoundTrip, WeightsAndConfigComeBackExactly) {
  Gemma4Model m = load_model(test::fixture_dir(GetParam()));
  const fs::path dir = fs::path(::testing::TempDir()) / ("gq_hf_" + GetParam() + std::to_string(::getpid()));
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
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfRoundTrip, ::testing::Values("dense_ple", "moe_keqv", "dense_keqv"));

}  // namespace
}  // namespace gq
