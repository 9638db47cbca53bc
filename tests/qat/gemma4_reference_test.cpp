// The LibTorch Gemma 4 against Hugging Face's own outputs on the tiny fixtures: logits, hidden
// states, greedy tokens through the KV cache, and incremental decoding against a full forward.
#include <gtest/gtest.h>

#include <torch/types.h>

#include "fixture_util.h"
#include "qat/checkpoint_loader.h"
#include "qat/generate.h"

namespace gq {
namespace {

using test::fixture_dir;
using test::max_abs_diff;

class Gemma4Reference : public ::testing::TestWithParam<std::string> {};

TEST_P(Gemma4Reference, LogitsHiddenAndGreedyMatchHuggingFace) {
  const std::string dir = fixture_dir(GetParam());
  Gemma4Model model = load_model(dir);
  const auto ref = SafetensorsFile::open(dir + "/reference.safetensors");
  at::NoGradGuard ng;
  for (const std::string s : {"a", "b", "c"}) {
    SCOPED_TRACE("sequence " + s);
    const std::vector<int64_t> ids = test::read_i64(*ref, s + ".input_ids");
    ForwardOptions opt;
    opt.return_hidden = true;
    const ForwardResult r = model->forward(at::tensor(ids, at::kLong).unsqueeze(0), nullptr, opt);
    const double dl = max_abs_diff(r.logits, test::read_f32(*ref, s + ".logits"));
    std::printf("[ measured ] %s sequence %s: max |logit - HF| = %.2e\n", GetParam().c_str(), s.c_str(), dl);
    EXPECT_LE(dl, 1e-4);
    const int64_t L = model->config().L();
    ASSERT_EQ(int64_t(r.hidden.size()), L + 1);
    for (int64_t i = 0; i <= L; ++i)
      EXPECT_LE(max_abs_diff(r.hidden[size_t(i)], test::read_f32(*ref, s + ".hidden." + std::to_string(i))), 1e-3)
          << "hidden." << i;

    const std::vector<int64_t> greedy = test::read_i64(*ref, s + ".greedy");
    const int64_t plen = test::read_i64(*ref, s + ".greedy_prompt_len")[0];
    const std::vector<int64_t> prompt(greedy.begin(), greedy.begin() + plen);
    const std::vector<int64_t> expected(greedy.begin() + plen, greedy.end());
    // The reference comes from HF generate(min_new_tokens=16), which keeps EOS out of the argmax.
    GreedyOptions gopt;
    gopt.banned = {model->config().eos_token_id};
    EXPECT_EQ(greedy_generate(model, prompt, int(expected.size()), gopt), expected);
  }
}

// Feeding sequence b (70 tokens, window 8) through the cache in uneven chunks must reproduce the
// full forward: exercises the sliding-window trimming and KV sharing across steps.
TEST_P(Gemma4Reference, IncrementalDecodingEqualsFullForward) {
  const std::string dir = fixture_dir(GetParam());
  Gemma4Model model = load_model(dir);
  const auto ref = SafetensorsFile::open(dir + "/reference.safetensors");
  at::NoGradGuard ng;
  const at::Tensor ids = at::tensor(test::read_i64(*ref, "b.input_ids"), at::kLong).unsqueeze(0);
  const at::Tensor full = model->forward(ids).logits;
  for (int64_t chunk : {1, 3, 11}) {
    KVCache cache = model->new_cache();
    std::vector<at::Tensor> parts;
    for (int64_t s = 0; s < ids.size(1); s += chunk) {
      const int64_t n = std::min(chunk, ids.size(1) - s);
      parts.push_back(model->forward(ids.narrow(1, s, n), &cache).logits);
    }
    // Same bar as against HF: only the float32 summation order differs between the two paths.
    EXPECT_LE(max_abs_diff(at::cat(parts, 1), full), 1e-4) << "chunk " << chunk;
    // Sliding layers keep only what a later query can see.
    const Gemma4Config& c = model->config();
    for (int64_t i = 0; i < c.L(); ++i) {
      if (c.is_kv_shared(i)) {
        EXPECT_FALSE(cache.layers[size_t(i)].k.defined());
      } else {
        EXPECT_EQ(cache.layers[size_t(i)].k.size(2), c.is_sliding(i) ? c.sliding_window - 1 : ids.size(1));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Gemma4Reference, ::testing::Values("dense_ple", "moe_keqv", "dense_keqv"));

// bf16, sharded into 29 files, saved as Gemma4ForConditionalGeneration: the exact-constants reference.
TEST(Gemma4ReferenceBf16, ShardedMultimodalCheckpointMatchesExactReference) {
  const std::string dir = fixture_dir("dense_ple_mm_bf16");
  LoadReport rep;
  Gemma4Model model = load_model(dir, &rep);
  EXPECT_EQ(rep.prefix, "model.language_model.");
  const auto ref = SafetensorsFile::open(dir + "/reference_exact.safetensors");
  at::NoGradGuard ng;
  for (const std::string s : {"a", "b", "c"}) {
    const at::Tensor ids = at::tensor(test::read_i64(*ref, s + ".input_ids"), at::kLong).unsqueeze(0);
    const double dl = max_abs_diff(model->forward(ids).logits, test::read_f32(*ref, s + ".logits"));
    std::printf("[ measured ] dense_ple_mm_bf16 sequence %s: max |logit - exact reference| = %.2e\n", s.c_str(), dl);
    EXPECT_LE(dl, 1e-4) << s;
  }
}

}  // namespace
}  // namespace gq
