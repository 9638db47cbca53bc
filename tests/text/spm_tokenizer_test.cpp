// SentencePiece models through load_tokenizer: a tiny byte-fallback BPE trained here with Debian's
// spm_train, checked against spm_encode's own ids.
#include "text/spm_tokenizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "io/error.h"
#include "text/tokenizer.h"

namespace gq {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<TokenId>;

// A few KB of English with a small alphabet, so that a 400-piece vocab holds the 256 byte pieces,
// 3 control pieces, every character and some merges (300 cannot: 259 + ~60 characters > 300).
std::string training_text() {
  const char* sentences[] = {
      "The quick brown fox jumps over the lazy dog.",
      "It was the best of times, it was the worst of times.",
      "Call me Ishmael. Some years ago, never mind how long precisely, I thought I would sail about a little.",
      "Alice was beginning to get very tired of sitting by her sister on the bank.",
      "In the beginning God created the heaven and the earth.",
      "Happy families are all alike; every unhappy family is unhappy in its own way.",
      "She said: \"We shall see what the morning brings, and then we will decide.\"",
      "There were 12 ships, 340 men and 5 horses on the shore that night.",
  };
  std::string text;
  for (int round = 0; round < 12; ++round)
    for (const char* s : sentences) text += std::string(s) + "\n";
  return text;
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

class TinySpm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("gq_spm_" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    std::ofstream(*dir_ / "train.txt") << training_text();
    const std::string cmd = "spm_train --input=" + (*dir_ / "train.txt").string() + " --model_prefix=" + (*dir_ / "tiny").string() +
                            " --vocab_size=400 --model_type=bpe --byte_fallback=true --character_coverage=1.0 --num_threads=1"
                            " > " + (*dir_ / "train.log").string() + " 2>&1";
    trained_ = std::system(cmd.c_str()) == 0;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override {
    ASSERT_TRUE(trained_) << "spm_train failed (Debian package 'sentencepiece'); see the log in " << *dir_;
    tok = load_tokenizer(model().string());
  }
  static fs::path model() { return *dir_ / "tiny.model"; }
  static fs::path* dir_;
  static bool trained_;
  std::unique_ptr<Tokenizer> tok;
};
fs::path* TinySpm::dir_ = nullptr;
bool TinySpm::trained_ = false;

const std::vector<std::string> kTexts = {
    "The quick brown fox.",  "worst of times, best of times",  "  two  spaces and a\ttab",
    "Numbers: 0 42 1999",    "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E and caf\xC3\xA9",  // 日本語, café: byte fallback
    "emoji \xF0\x9F\x98\x80!", "",
};

TEST_F(TinySpm, EncodesLikeSpmEncode) {
  std::ofstream(*dir_ / "in.txt") << [] {
    std::string s;
    for (const std::string& t : kTexts) s += t + "\n";
    return s;
  }();
  std::istringstream ref(run("spm_encode --model=" + model().string() + " --output_format=id < " + (*dir_ / "in.txt").string()));
  std::string line;
  for (const std::string& t : kTexts) {
    ASSERT_TRUE(std::getline(ref, line)) << "spm_encode gave too few lines";
    Ids want;
    std::istringstream ids(line);
    for (TokenId id; ids >> id;) want.push_back(id);
    EXPECT_EQ(tok->encode(t, false), want) << t;
  }
}

TEST_F(TinySpm, RoundTripsAndAddsBos) {
  for (const std::string t : {"The quick brown fox.", "Numbers: 0 42 1999", "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E and caf\xC3\xA9"})
    EXPECT_EQ(tok->decode(tok->encode(t, false)), t);
  const Ids plain = tok->encode("fox", false);
  Ids with_bos = tok->encode("fox", true);
  ASSERT_EQ(with_bos.size(), plain.size() + 1);
  EXPECT_EQ(with_bos.front(), tok->bos_id());
  EXPECT_EQ(Ids(with_bos.begin() + 1, with_bos.end()), plain);
}

TEST_F(TinySpm, PiecesAndSpecialIds) {
  EXPECT_EQ(tok->vocab_size(), 400);
  EXPECT_EQ(tok->unk_id(), 0);  // spm_train's defaults: unk 0, bos 1, eos 2, no pad
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->pad_id(), -1);
  EXPECT_EQ(tok->piece(tok->bos_id()), "<s>");
  const TokenId byte_a = tok->piece_id("<0x41>");
  ASSERT_GE(byte_a, 0);
  EXPECT_EQ(tok->piece(byte_a), "<0x41>");
  EXPECT_EQ(tok->piece_id("no such piece"), -1);
  EXPECT_THROW(tok->piece(400), FormatError);
  EXPECT_THROW(tok->decode({400}), FormatError);
  EXPECT_THROW(tok->encode("\xFF", false), FormatError);
}

TEST_F(TinySpm, FolderWithTokenizerModel) {
  fs::create_directories(*dir_ / "ckpt");
  fs::copy_file(model(), *dir_ / "ckpt" / "tokenizer.model", fs::copy_options::overwrite_existing);
  EXPECT_EQ(load_tokenizer((*dir_ / "ckpt").string())->encode("fox", false), tok->encode("fox", false));
}

}  // namespace
}  // namespace gq
