// Incremental decode against the full forward and against Hugging Face's greedy generate (its KV
// cache path) on the tiny fixtures. Sequence b (70 tokens) is far longer than the sliding window
// (8), so steps past the window check what the sliding caches keep and drop.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "../common/test_util.h"
#include "engine/decode.h"
#include "engine/forward.h"
#include "engine/weights.h"
#include "reference_util.h"

namespace gq::engine {
namespace {

// Both paths compute the same float32 maths; only the matrix products' blocking differs (a 1-row
// product against a T-row one), so they agree to rounding noise.
constexpr double kDecodeTolerance = 1e-5;

// max |a - b| over one row of `full` [T, V].
double row_diff(const std::vector<float>& got, const std::vector<float>& full, int64_t row, int64_t V) {
  double d = 0;
  for (int64_t i = 0; i < V; ++i) d = std::max(d, std::fabs(double(got[size_t(i)]) - double(full[size_t(row * V + i)])));
  return d;
}

// The session's caches after `s.position()` tokens: sliding layers at most their window, KV-shared
// layers none, full layers every position.
void expect_cache_sizes(const Session& s, const Gemma4Config& c) {
  for (int64_t il = 0; il < c.L(); ++il) {
    const int64_t want = c.is_kv_shared(il) ? 0 : c.is_sliding(il) ? std::min(s.position(), c.sliding_window) : s.position();
    EXPECT_EQ(s.cached_rows(il), want) << "layer " << il << " at position " << s.position();
  }
}

std::vector<int32_t> slice(const std::vector<int32_t>& v, size_t from, size_t to) {
  return std::vector<int32_t>(v.begin() + std::ptrdiff_t(from), v.begin() + std::ptrdiff_t(to));
}

class FixtureDecode : public ::testing::TestWithParam<std::string> {};

// Every position's logits, three ways: one token at a time from position 0; a prefill of the first
// 12 tokens then steps; and chunks of 11 (longer than the window, on top of a filled cache).
TEST_P(FixtureDecode, StepLogitsEqualTheFullForward) {
  const ModelWeights w = ModelWeights::load_safetensors(test::fixture(GetParam()));
  const auto ref = SafetensorsFile::open(test::fixture(GetParam()) + "/reference.safetensors");
  const Gemma4Config& c = w.config();
  const int64_t V = c.vocab_size;
  for (const std::string seq : {"a", "b", "c"}) {
    const std::vector<int32_t> ids = test::reference_ids(*ref, seq);
    const std::vector<float> full = logits(w, ids);
    const size_t T = ids.size();
    // Chunk sizes: one token at a time; a 12-token prefill then steps; chunks of 11 (longer than
    // the window, on top of a filled cache).
    for (const std::vector<size_t>& plan : {std::vector<size_t>{1}, std::vector<size_t>{12, 1}, std::vector<size_t>{11}}) {
      Session s(w);
      double worst = 0, worst_past_window = 0;
      for (size_t from = 0, i = 0; from < T; ++i) {
        const size_t to = std::min(T, from + plan[std::min(i, plan.size() - 1)]);
        const std::vector<float> got = to - from == 1 ? s.step(ids[from]) : s.prefill(slice(ids, from, to));
        from = to;
        ASSERT_EQ(got.size(), size_t(V));
        const double d = row_diff(got, full, int64_t(from) - 1, V);
        EXPECT_LE(d, kDecodeTolerance) << GetParam() << " seq " << seq << " chunk " << plan[0] << " position " << from - 1;
        worst = std::max(worst, d);
        if (int64_t(from) > c.sliding_window) worst_past_window = std::max(worst_past_window, d);
        expect_cache_sizes(s, c);
      }
      EXPECT_EQ(s.position(), int64_t(T));
      std::printf("[ decode   ] %s seq %s T=%zu chunks of %zu: max|decode - full| = %.3g (past the window %.3g)\n",
                  GetParam().c_str(), seq.c_str(), T, plan[0], worst, worst_past_window);
    }
  }
}

// The first <s>.greedy_prompt_len tokens of <s>.greedy are the prompt, the rest HF's greedy tokens.
struct GreedyCase {
  std::vector<int32_t> prompt, want;
};
GreedyCase greedy_case(const SafetensorsFile& ref, const std::string& seq) {
  const std::vector<int32_t> all = test::reference_i64(ref, seq + ".greedy");
  const size_t prompt_len = size_t(test::reference_i64(ref, seq + ".greedy_prompt_len")[0]);
  if (prompt_len >= all.size()) throw FormatError(ref.path() + ": " + seq + ".greedy has no generated tokens");
  return {slice(all, 0, prompt_len), slice(all, prompt_len, all.size())};
}

// HF's generate made all 16 tokens (min_new_tokens), so EOS was banned: where it was the argmax
// (dense_keqv b, moe_keqv a) HF took the runner-up, and so must we.
TEST_P(FixtureDecode, GreedyEqualsHuggingFace) {
  const ModelWeights w = ModelWeights::load_safetensors(test::fixture(GetParam()));
  const auto ref = SafetensorsFile::open(test::fixture(GetParam()) + "/reference.safetensors");
  for (const std::string seq : {"a", "b", "c"}) {
    const GreedyCase g = greedy_case(*ref, seq);
    const std::vector<int32_t> got = greedy(w, g.prompt, int(g.want.size()), false, {int32_t(w.config().eos_token_id)});
    EXPECT_EQ(got, g.want) << GetParam() << " seq " << seq;
    std::printf("[ decode   ] %s seq %s: greedy %zu/%zu tokens as HF after a %zu-token prompt\n", GetParam().c_str(),
                seq.c_str(), size_t(std::mismatch(got.begin(), got.end(), g.want.begin()).first - got.begin()),
                g.want.size(), g.prompt.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Gemma4Tiny, FixtureDecode, ::testing::Values("dense_ple", "dense_keqv", "moe_keqv"),
                         [](const auto& info) { return info.param; });

// moe_keqv's sequence a: after HF's 7th token EOS is the argmax (HF, banning it, went on).
TEST(Decode, GreedyStopsAtEosUnlessBanned) {
  const ModelWeights w = ModelWeights::load_safetensors(test::fixture("moe_keqv"));
  const GreedyCase g = greedy_case(*SafetensorsFile::open(test::fixture("moe_keqv") + "/reference.safetensors"), "a");
  const int32_t eos = int32_t(w.config().eos_token_id);
  std::vector<int32_t> until_eos = slice(g.want, 0, 7);
  until_eos.push_back(eos);
  EXPECT_EQ(greedy(w, g.prompt, 16, true), until_eos);
  // Without stopping, EOS is emitted and decoding goes on past it.
  const std::vector<int32_t> through = greedy(w, g.prompt, 16, false);
  ASSERT_EQ(through.size(), 16u);
  EXPECT_EQ(slice(through, 0, 8), until_eos);
  EXPECT_EQ(greedy(w, g.prompt, 16, true, {eos}), g.want);
  EXPECT_TRUE(greedy(w, g.prompt, 0, true).empty());
}

TEST(Decode, RefusesEmptyInputAndIdsOutsideTheVocabulary) {
  const ModelWeights w = ModelWeights::load_safetensors(test::fixture("dense_keqv"));
  test::expect_format_error([&] { greedy(w, {}, 4, true); }, "needs a prompt");
  Session s(w);
  test::expect_format_error([&] { s.prefill({}); }, "no tokens to run at position 0");
  Session t(w);
  t.prefill({2, 17});
  test::expect_format_error([&] { t.step(512); }, "token id 512 at position 2");
}

}  // namespace
}  // namespace gq::engine
