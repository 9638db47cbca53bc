// The tokenizer a GGUF carries (engine/gguf_tokenizer.h) on small vocabularies written here: the
// SentencePiece ("llama") form merges by piece score and strips the space prefix it adds, the
// "gemma4" form merges by rank; special tokens in the text become their ids; bad keys are named.
#include "engine/gguf_tokenizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "io/error.h"

namespace gq::engine {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<TokenId>;
const std::string kSp = "\xE2\x96\x81";

struct Vocab {
  std::string model = "llama";
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  std::vector<std::string> merges;
  void add(const std::string& t, float score, int32_t type = 1) {
    tokens.push_back(t);
    scores.push_back(score);
    types.push_back(type);
  }
  TokenId id(const std::string& t) const { return TokenId(std::find(tokens.begin(), tokens.end(), t) - tokens.begin()); }
};

// <pad> <eos> <bos> <unk>, 256 byte tokens, "▁", then `pieces` with their scores.
Vocab base(const std::vector<std::pair<std::string, float>>& pieces) {
  Vocab v;
  v.add("<pad>", 0, 3), v.add("<eos>", 0, 3), v.add("<bos>", 0, 3), v.add("<unk>", 0, 2);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    v.add(name, 0, 6);
  }
  v.add(kSp, -1);
  for (const auto& [p, s] : pieces) v.add(p, s);
  return v;
}

std::unique_ptr<Tokenizer> load(const Vocab& v, const std::string& extra_key = "") {
  const fs::path path = fs::temp_directory_path() / ("gq_gguf_tok_" + std::to_string(::getpid()) + ".gguf");
  {
    GgufWriter w(path.string());
    w.add("general.architecture", GgufValue::str("gemma4"));
    w.add("tokenizer.ggml.model", GgufValue::str(v.model));
    w.add("tokenizer.ggml.tokens", GgufValue::str_array(v.tokens));
    w.add("tokenizer.ggml.scores", GgufValue::f32_array(v.scores));
    w.add("tokenizer.ggml.token_type", GgufValue::i32_array(v.types));
    if (!v.merges.empty()) w.add("tokenizer.ggml.merges", GgufValue::str_array(v.merges));
    w.add("tokenizer.ggml.bos_token_id", GgufValue::u32(2));
    w.add("tokenizer.ggml.eos_token_id", GgufValue::u32(extra_key == "bad eos" ? 100000 : 1));
    w.add("tokenizer.ggml.add_space_prefix", GgufValue::boolean(v.model == "llama"));
    w.finish();
  }
  struct Remove {
    fs::path p;
    ~Remove() { fs::remove(p); }
  } remove{path};
  return gguf_tokenizer(GgufFile::open(path.string()));
}

TEST(GgufTokenizer, SentencePieceMergesTheHighestScoringPieceFirst) {
  const std::vector<std::string> chars = {"a", "b", "c"};
  std::vector<std::pair<std::string, float>> p;
  for (const auto& c : chars) p.push_back({c, -2});
  // "▁a" outscores "ab": ▁ a b -> ▁a b.
  auto first = p;
  first.push_back({kSp + "a", -3}), first.push_back({"ab", -4});
  const Vocab v1 = base(first);
  const auto t1 = load(v1);
  EXPECT_EQ(t1->encode("ab", false), (Ids{v1.id(kSp + "a"), v1.id("b")}));
  EXPECT_EQ(t1->encode("ab", true), (Ids{2, v1.id(kSp + "a"), v1.id("b")}));
  // "ab" outscores "▁a": ▁ a b -> ▁ ab.
  auto second = p;
  second.push_back({kSp + "a", -4}), second.push_back({"ab", -3});
  const Vocab v2 = base(second);
  EXPECT_EQ(load(v2)->encode("ab", false), (Ids{v2.id(kSp), v2.id("ab")}));
}

TEST(GgufTokenizer, SentencePieceSpacePrefixAfterSpecialsAndByteFallback) {
  const Vocab v = base({{"a", -2}, {kSp + "a", -3}});
  const auto t = load(v);
  // The space prefix comes back after a special token, as llama.cpp adds it; é is two byte tokens.
  EXPECT_EQ(t->encode("a<eos>a \xC3\xA9", false),
            (Ids{v.id(kSp + "a"), 1, v.id(kSp + "a"), v.id(kSp), v.id("<0xC3>"), v.id("<0xA9>")}));
  // Decoding strips the prefix's space again, and keeps special tokens.
  EXPECT_EQ(t->decode({v.id(kSp + "a"), v.id(kSp), v.id("<0xC3>"), v.id("<0xA9>")}), "a \xC3\xA9");
  EXPECT_EQ(t->decode({1}), "<eos>");
  EXPECT_EQ(t->bos_id(), 2);
  EXPECT_EQ(t->eos_id(), 1);
}

TEST(GgufTokenizer, Gemma4BpeMergesByRankWithoutSpacePrefix) {
  Vocab v = base({{"a", -1000}, {"b", -1000}, {"\n", -1000}, {"ab", -1000}, {kSp + "a", -1000}});
  v.model = "gemma4";
  v.merges = {"a b", kSp + " a"};
  const auto t = load(v);
  // Rank 0 "a b" before rank 1 "▁ a"; the newline run is a word of its own.
  EXPECT_EQ(t->encode("ab\n\n ab", false), (Ids{v.id("ab"), v.id("\n"), v.id("\n"), v.id(kSp), v.id("ab")}));
  EXPECT_EQ(t->encode(" a", false), (Ids{v.id(kSp + "a")}));
  EXPECT_EQ(t->decode(t->encode(" ab\nab", true)), "<bos> ab\nab");
}

TEST(GgufTokenizer, BadVocabulariesAreNamed) {
  Vocab v = base({{"a", -1}});
  v.model = "gpt2";
  EXPECT_THROW(
      {
        try {
          load(v);
        } catch (const FormatError& e) {
          EXPECT_NE(std::string(e.what()).find("tokenizer.ggml.model: 'gpt2' is not supported"), std::string::npos) << e.what();
          throw;
        }
      },
      FormatError);
  Vocab dup = base({{"a", -1}, {"a", -2}});
  EXPECT_THROW(load(dup), FormatError);
  Vocab g = base({{"a", -1}});
  g.model = "gemma4";  // no merges
  EXPECT_THROW(load(g), FormatError);
  EXPECT_THROW(load(base({{"a", -1}}), "bad eos"), FormatError);
}

}  // namespace
}  // namespace gq::engine
