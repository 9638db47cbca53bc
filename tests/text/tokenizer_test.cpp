// The Hugging Face tokenizer.json reader on a small Gemma-shaped file (expected ids checked once
// against the Rust `tokenizers` library), its pipeline components, and load_tokenizer's dispatch.
// Parity with the real Gemma 3 tokenizer on thousands of texts is tests/cli/tokenizer_parity.sh.
#include "text/hf_tokenizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/error.h"
#include "text/bpe_model.h"
#include "text/hf_decoder.h"
#include "text/hf_normalizer.h"
#include "text/hf_pattern.h"
#include "text/hf_pre_tokenizer.h"
#include "text/hf_token_matcher.h"
#include "tests/text/small_gemma_tokenizer.h"
#include "text/tokenizer.h"

namespace gq {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Ids = std::vector<TokenId>;

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("gq_tok_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

void write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

using test::small_gemma_like;

constexpr TokenId kHello = 274, kSpace = 263, kWorld = 279, kSpaceSpace = 280, kH = 264, kE = 265;
TokenId byte_id(int b) { return 7 + b; }

class SmallHf : public ::testing::Test {
 protected:
  void SetUp() override {
    write(dir.path / "tokenizer.json", small_gemma_like().dump());
    tok = HfTokenizer::load((dir.path / "tokenizer.json").string());
  }
  TempDir dir;
  std::unique_ptr<HfTokenizer> tok;
};

// Expected ids below were produced by npm tokenizers 0.23.2 (the Rust library) from this same file.
TEST_F(SmallHf, EncodesLikeTheRustLibrary) {
  EXPECT_EQ(tok->encode("hello world", false), (Ids{kHello, kWorld}));
  // "▁w" (rank 4) is merged before "▁▁" (rank 9): the first space stays alone.
  EXPECT_EQ(tok->encode("hello  world", false), (Ids{kHello, kSpace, kWorld}));
  EXPECT_EQ(tok->encode("  ", false), (Ids{kSpaceSpace}));
  EXPECT_EQ(tok->encode("", false), Ids{});
  EXPECT_EQ(tok->encode("", true), Ids{2});
  EXPECT_EQ(tok->encode("hello", true), (Ids{2, kHello}));
}

TEST_F(SmallHf, CharactersOutsideTheVocabFallBackToBytes) {
  // é = C3 A9; 😀 = F0 9F 98 80.
  EXPECT_EQ(tok->encode("h\xC3\xA9", false), (Ids{kH, byte_id(0xC3), byte_id(0xA9)}));
  EXPECT_EQ(tok->encode("\xF0\x9F\x98\x80", false), (Ids{byte_id(0xF0), byte_id(0x9F), byte_id(0x98), byte_id(0x80)}));
}

TEST_F(SmallHf, AddedTokensAreCutOutOfTheRawTextLongestFirst) {
  // Special tokens in the text become their ids with or without add_special; "\n\n" beats "\n".
  EXPECT_EQ(tok->encode("<start_of_turn>hello\n\n\nhe", false), (Ids{4, kHello, 6, 5, 272}));
  EXPECT_EQ(tok->encode("<bos>", false), Ids{2});
  EXPECT_EQ(tok->encode("<bos", false).front(), byte_id('<'));
  // Normalization runs on the text between added tokens only.
  EXPECT_EQ(tok->encode(" <eos> ", false), (Ids{kSpace, 1, kSpace}));
}

TEST_F(SmallHf, DecodesThroughTheDecoderChain) {
  EXPECT_EQ(tok->decode({kHello, kSpace, kWorld}), "hello  world");
  EXPECT_EQ(tok->decode({2, kHello, 5, 4}), "<bos>hello\n<start_of_turn>");
  EXPECT_EQ(tok->decode({byte_id(0xC3), byte_id(0xA9)}), "\xC3\xA9");
  // Invalid UTF-8 from byte pieces: one U+FFFD per byte.
  EXPECT_EQ(tok->decode({byte_id(0xC3), kE}), "\xEF\xBF\xBD" "e");
  EXPECT_EQ(tok->decode({}), "");
  EXPECT_THROW(tok->decode({99999}), FormatError);
}

TEST_F(SmallHf, RoundTripsText) {
  for (const std::string s : {"hello world", "  he\tllo\n\n\n wor ld  ", "h\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC <start_of_turn> x", ""})
    EXPECT_EQ(tok->decode(tok->encode(s, false)), s) << s;
}

TEST_F(SmallHf, SpecialIdsAndPieces) {
  EXPECT_EQ(tok->vocab_size(), 281);
  EXPECT_EQ(tok->bos_id(), 2);
  EXPECT_EQ(tok->eos_id(), 1);
  EXPECT_EQ(tok->pad_id(), 0);
  EXPECT_EQ(tok->unk_id(), 3);
  EXPECT_EQ(tok->piece(kWorld), "\xE2\x96\x81world");
  EXPECT_EQ(tok->piece_id("\xE2\x96\x81world"), kWorld);
  EXPECT_EQ(tok->piece_id("<start_of_turn>"), 4);
  EXPECT_EQ(tok->piece_id("nope"), -1);
  EXPECT_THROW(tok->piece(-1), FormatError);
}

TEST_F(SmallHf, RefusesInvalidUtf8) {
  EXPECT_THROW(tok->encode("ab\xFF", false), FormatError);
  EXPECT_THROW(tok->encode("\xC3", false), FormatError);
  EXPECT_THROW(tok->encode("\xED\xA0\x80", false), FormatError);  // a surrogate
}

TEST(HfTokenizer, MergesAsStringsEqualMergesAsPairs) {
  TempDir dir;
  json j = small_gemma_like();
  json legacy = json::array();
  for (const json& m : j["model"]["merges"]) legacy.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
  j["model"]["merges"] = legacy;
  write(dir.path / "t.json", j.dump());
  const auto tok = HfTokenizer::load((dir.path / "t.json").string());
  EXPECT_EQ(tok->encode("hello  world", false), (Ids{kHello, kSpace, kWorld}));
}

// Expected ids from npm tokenizers 0.23.2 on the same file.
TEST(HfTokenizer, LstripRstripLikeTheRustLibrary) {
  TempDir dir;
  json j = small_gemma_like();
  j["added_tokens"][4]["lstrip"] = true;
  j["added_tokens"][4]["rstrip"] = true;
  write(dir.path / "t.json", j.dump());
  const auto tok = HfTokenizer::load((dir.path / "t.json").string());
  EXPECT_EQ(tok->encode("hello  <start_of_turn>  hello", false), (Ids{kHello, 4, kHello}));
  EXPECT_EQ(tok->encode(" \t<start_of_turn>", false), Ids{4});
  EXPECT_EQ(tok->encode("he <start_of_turn><start_of_turn> he", false), (Ids{272, 4, 4, 272}));
  // The "\n" token lies inside the white space <start_of_turn> strips, and is emitted anyway.
  EXPECT_EQ(tok->encode("<start_of_turn> \n", false), (Ids{4, 5}));
}

TEST(HfTokenizer, ConfigNamesTheSpecialTokens) {
  TempDir dir;
  write(dir.path / "tokenizer.json", small_gemma_like().dump());
  write(dir.path / "tokenizer_config.json", R"({"bos_token": "<bos>", "eos_token": {"content": "<start_of_turn>"}, "pad_token": "<pad>"})");
  const auto tok = load_tokenizer(dir.path.string());
  EXPECT_EQ(tok->eos_id(), 4);
  write(dir.path / "tokenizer_config.json", R"({"eos_token": "<nope>"})");
  EXPECT_THROW(load_tokenizer(dir.path.string()), FormatError);
}

// Each refusal names the file and the component, in one line.
TEST(HfTokenizer, RefusesWhatItCannotReproduce) {
  TempDir dir;
  const fs::path p = dir.path / "tokenizer.json";
  auto expect_error = [&](json j, const std::string& needle) {
    write(p, j.dump());
    try {
      HfTokenizer::load(p.string());
      ADD_FAILURE() << "no error for " << needle;
    } catch (const FormatError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
      EXPECT_NE(msg.find(needle), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  };
  json j = small_gemma_like();
  j["normalizer"] = {{"type", "NFKC"}};
  expect_error(j, "normalizer type 'NFKC'");
  j = small_gemma_like();
  j["pre_tokenizer"] = {{"type", "ByteLevel"}};
  expect_error(j, "pre_tokenizer type 'ByteLevel'");
  j = small_gemma_like();
  j["pre_tokenizer"]["pattern"] = {{"Regex", "\\p{L}+"}};
  expect_error(j, "\\p");
  j = small_gemma_like();
  j["model"]["type"] = "Unigram";
  expect_error(j, "'Unigram' is not supported");
  j = small_gemma_like();
  j["model"]["merges"].push_back({"x", "y"});
  expect_error(j, "'x' is not in the vocab");
  j = small_gemma_like();
  j["decoder"]["decoders"].push_back({{"type", "Metaspace"}});
  expect_error(j, "decoder type 'Metaspace'");
  j = small_gemma_like();
  j["added_tokens"][0]["single_word"] = true;
  expect_error(j, "single_word");
  write(p, "{not json");
  EXPECT_THROW(HfTokenizer::load(p.string()), FormatError);
}

// ---- pipeline components ----

std::vector<std::string> pre_tokenize(const json& config, const std::string& text) {
  const hf::PreTokenizer pt = hf::PreTokenizer::parse(config, "test");
  std::vector<std::string_view> words;
  pt.apply(text, words);
  return std::vector<std::string>(words.begin(), words.end());
}

// The Rust library's documented Split example, plus cases checked against npm tokenizers 0.23.2.
TEST(HfPipeline, SplitBehaviorsMatchTheRustLibrary) {
  auto split = [](const char* behavior, bool invert = false) {
    return pre_tokenize({{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}},
                        "the-final--countdown");
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(split("Removed"), (V{"the", "final", "countdown"}));
  EXPECT_EQ(split("Isolated"), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split("MergedWithPrevious"), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split("MergedWithNext"), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split("Contiguous"), (V{"the", "-", "final", "--", "countdown"}));
  EXPECT_EQ(split("Removed", true), (V{"-", "-", "-"}));
  EXPECT_EQ(split("MergedWithPrevious", true), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split("Contiguous", true), (V{"the", "-", "final", "--", "countdown"}));
  auto split2 = [](const char* behavior) {
    return pre_tokenize({{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", false}}, "--a-");
  };
  EXPECT_EQ(split2("MergedWithPrevious"), (V{"-", "-", "a-"}));
  EXPECT_EQ(split2("MergedWithNext"), (V{"-", "-a", "-"}));
  EXPECT_EQ(split2("Contiguous"), (V{"--", "a", "-"}));
}

TEST(HfPipeline, RegexSubsetSplitsNewlineRuns) {
  const json newline_runs = {{"type", "Split"}, {"pattern", {{"Regex", "\\n+|[^\\n]+"}}}, {"behavior", "Isolated"}, {"invert", false}};
  using V = std::vector<std::string>;
  EXPECT_EQ(pre_tokenize(newline_runs, "ab c\n\n\xE6\x97\xA5 d\n"), (V{"ab c", "\n\n", "\xE6\x97\xA5 d", "\n"}));
  const json spaces = {{"type", "Split"}, {"pattern", {{"Regex", "\\s+"}}}, {"behavior", "Removed"}, {"invert", false}};
  EXPECT_EQ(pre_tokenize(spaces, " a\t\xE3\x80\x80 b  "), (V{"a", "b"}));  // U+3000 is \s
  // Greedy with backtracking, as in Oniguruma: "a+ab" on "aaab" matches the whole word.
  const hf::Pattern p = hf::Pattern::parse({{"Regex", "x|a+ab"}}, "test");
  EXPECT_EQ(p.find("zaaab", 0), (std::pair<size_t, size_t>{1, 5}));
  for (const char* bad : {"(a)", "a+?", "\\d", ".", "[a", "a|"})
    EXPECT_THROW(hf::Pattern::parse({{"Regex", bad}}, "test"), FormatError) << bad;
}

TEST(HfPipeline, NormalizerAndStripDecoder) {
  const hf::Normalizer n = hf::Normalizer::parse(
      {{"type", "Sequence"},
       {"normalizers", json::array({{{"type", "Prepend"}, {"prepend", "_"}}, {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "_"}}})}},
      "test");
  EXPECT_EQ(n.apply("a b"), "_a_b");
  EXPECT_EQ(n.apply(""), "");  // Prepend leaves empty text alone
  const hf::Decoder d = hf::Decoder::parse(
      {{"type", "Sequence"},
       {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", "_"}}}, {"content", " "}}, {{"type", "Fuse"}},
                                 {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}},
      "test");
  EXPECT_EQ(d.apply({"_a", "_b"}), "a b");
  EXPECT_EQ(hf::Decoder::parse(nullptr, "test").apply({"a", "b"}), "a b");  // no decoder: joined by spaces
}

TEST(HfPipeline, TokenMatcherIsLeftmostLongest) {
  hf::TokenMatcher m;
  m.add("ab", 0);
  m.add("abc", 1);
  m.add("bcd", 2);
  const auto r = m.find("xabcd", 0);
  EXPECT_EQ(r.begin, 1u);
  EXPECT_EQ(r.end, 4u);
  EXPECT_EQ(r.value, 1u);
  EXPECT_EQ(m.find("xab", 2).begin, std::string_view::npos);
}

// ---- the BPE model alone ----

BpeModel tiny_bpe(BpeOptions opt) {
  std::vector<std::pair<std::string, int32_t>> vocab = {{"<unk>", 0}, {"a", 1}, {"b", 2}, {"ab", 3}, {"ba", 4}, {"aba", 5}};
  return BpeModel(vocab, {{"b", "a"}, {"a", "b"}, {"ab", "a"}}, opt, "test");
}

Ids bpe(const BpeModel& m, std::string_view w) {
  Ids out;
  m.encode(w, out);
  return out;
}

TEST(BpeModel, LowestRankFirstThenLeftmost) {
  const BpeModel m = tiny_bpe({"<unk>", false, false, false});
  EXPECT_EQ(bpe(m, "abab"), (Ids{1, 4, 2}));     // "ba" (rank 0) wins over both "ab"
  EXPECT_EQ(bpe(m, "abba"), (Ids{3, 4}));        // no overlap: both merge
  EXPECT_EQ(bpe(m, "bab"), (Ids{4, 2}));         // leftmost "ba" first; then no "ab"+"b"
  EXPECT_EQ(bpe(m, "bbb"), (Ids{2, 2, 2}));
}

TEST(BpeModel, UnknownCharacters) {
  EXPECT_EQ(bpe(tiny_bpe({"<unk>", false, true, false}), "axxb"), (Ids{1, 0, 2}));     // fused
  EXPECT_EQ(bpe(tiny_bpe({"<unk>", false, false, false}), "axxb"), (Ids{1, 0, 0, 2}));  // one per character
  EXPECT_EQ(bpe(tiny_bpe({"", false, false, false}), "axb"), Ids{3});  // no unk: dropped, then a+b merge
  EXPECT_EQ(bpe(tiny_bpe({"<unk>", false, false, true}), "aba"), Ids{5});              // ignore_merges: whole piece
}

TEST(BpeModel, RefusesInconsistentVocabularies) {
  EXPECT_THROW(BpeModel({{"a", 0}, {"b", 0}}, {}, {}, "t"), FormatError);
  EXPECT_THROW(BpeModel({{"a", 0}}, {{"a", "a"}}, {}, "t"), FormatError);
  EXPECT_THROW(BpeModel({{"a", 0}}, {}, {"<unk>", false, false, false}, "t"), FormatError);
}

// Found by fuzz/tokenizer_fuzz: one id near 2^31 sized the id table at tens of GB before any check.
TEST(BpeModel, RefusesHugeIds) {
  EXPECT_THROW(BpeModel({{"a", 0}, {"b", 800000000}}, {}, {}, "t"), FormatError);
  EXPECT_THROW(BpeModel({{"a", kMaxTokenId + 1}}, {}, {}, "t"), FormatError);
  EXPECT_NO_THROW(BpeModel({{"a", 0}, {"b", 1000}}, {}, {}, "t"));
}

// ---- load_tokenizer ----

TEST(LoadTokenizer, PicksTheImplementationFromWhatIsThere) {
  TempDir dir;
  EXPECT_THROW(load_tokenizer(dir.path.string()), FormatError);  // empty folder
  EXPECT_THROW(load_tokenizer((dir.path / "missing").string()), FormatError);
  write(dir.path / "tokenizer.json", small_gemma_like().dump(1));
  EXPECT_EQ(load_tokenizer(dir.path.string())->encode("hello", false), Ids{kHello});
  EXPECT_EQ(load_tokenizer((dir.path / "tokenizer.json").string())->vocab_size(), 281);
  write(dir.path / "garbage.model", "\x0a\x03" "abc");
  EXPECT_THROW(load_tokenizer((dir.path / "garbage.model").string()), FormatError);
}

}  // namespace
}  // namespace gq
