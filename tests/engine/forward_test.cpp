// The engine against Hugging Face's float32 logits on every tiny fixture and sequence: the
// tolerance is float32 noise (HF and a float64 re-implementation agree to ~3e-5), so any wrong
// convention (norm weights, RoPE, K=V, KV sharing, PLE, MoE routing, softcap) fails it.
#include <gtest/gtest.h>

#include <cstdio>

#include "../common/test_util.h"
#include "engine/forward.h"
#include "engine/weights.h"
#include "reference_util.h"

namespace gq::engine {
namespace {

constexpr double kTolerance = 1e-4;

struct Case {
  std::string fixture, reference;
};

class FixtureLogits : public ::testing::TestWithParam<Case> {};

TEST_P(FixtureLogits, MatchHuggingFace) {
  const Case& c = GetParam();
  const ModelWeights w = ModelWeights::load_safetensors(test::fixture(c.fixture));
  const auto ref = SafetensorsFile::open(test::fixture(c.fixture) + "/" + c.reference);
  const int64_t V = w.config().vocab_size;
  for (const std::string seq : {"a", "b", "c"}) {
    const std::vector<int32_t> ids = test::reference_ids(*ref, seq);
    const std::vector<float> want = ref->tensor(seq + ".logits").to_f32();
    ASSERT_EQ(want.size(), ids.size() * size_t(V)) << seq;
    const std::vector<float> got = logits(w, ids);
    ASSERT_EQ(got.size(), want.size()) << seq;
    const test::LogitComparison r = test::compare_logits(got, want, V);
    std::printf("[ engine   ] %s/%s seq %s T=%zu max|dlogit| = %.3g, argmax mismatches %lld\n", c.fixture.c_str(),
                c.reference.c_str(), seq.c_str(), ids.size(), r.max_abs_diff, (long long)r.argmax_mismatches);
    EXPECT_LE(r.max_abs_diff, kTolerance) << c.fixture << " seq " << seq;
    EXPECT_EQ(r.argmax_mismatches, 0) << c.fixture << " seq " << seq;
  }
}

INSTANTIATE_TEST_SUITE_P(Gemma4Tiny, FixtureLogits,
                         ::testing::Values(Case{"dense_ple", "reference.safetensors"},
                                           Case{"dense_keqv", "reference.safetensors"},
                                           Case{"moe_keqv", "reference.safetensors"},
                                           // bf16 weights, multimodal prefix, 29 shards; the
                                           // reference with exact float32 constants (fixture README).
                                           Case{"dense_ple_mm_bf16", "reference_exact.safetensors"}),
                         [](const auto& info) { return info.param.fixture; });

TEST(Forward, EmptySequenceGivesNoLogits) {
  const ModelWeights w = ModelWeights::load_safetensors(test::fixture("dense_keqv"));
  EXPECT_TRUE(logits(w, {}).empty());
}

TEST(Forward, RefusesIdsOutsideTheVocabulary) {
  const ModelWeights w = ModelWeights::load_safetensors(test::fixture("dense_keqv"));
  test::expect_format_error([&] { logits(w, {2, 512}); }, "token id 512 at position 1");
  test::expect_format_error([&] { logits(w, {-1}); }, "token id -1");
}

}  // namespace
}  // namespace gq::engine
