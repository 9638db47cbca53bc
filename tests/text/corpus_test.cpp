// Corpus reading: the per-line UTF-8 / Latin-1 rule, CRLF, and JSONL lines decoded before parsing.
#include "io/error.h"
#include "text/corpus.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace gq {
namespace {

namespace fs = std::filesystem;

// A file in the temporary folder, removed at the end of the test.
struct TempFile {
  fs::path path;
  TempFile(const std::string& name, const std::string& bytes)
      : path(fs::temp_directory_path() / ("gq_corpus_" + std::to_string(::getpid()) + "_" + name)) {
    std::ofstream(path, std::ios::binary) << bytes;
  }
  ~TempFile() { fs::remove(path); }
};

const std::string kCafeUtf8 = "caf\xC3\xA9";  // café in UTF-8
const std::string kCafeLatin1 = "caf\xE9";    // café in Latin-1

TEST(DecodeTextLine, ValidUtf8StaysAsItIs) {
  EXPECT_EQ(decode_text_line(kCafeUtf8), kCafeUtf8);
  EXPECT_EQ(decode_text_line("\xE6\x97\xA5 \xF0\x9F\x98\x80"), "\xE6\x97\xA5 \xF0\x9F\x98\x80");
  EXPECT_EQ(decode_text_line(""), "");
}

TEST(DecodeTextLine, InvalidLineIsLatin1) {
  EXPECT_EQ(decode_text_line(kCafeLatin1), kCafeUtf8);
  EXPECT_EQ(decode_text_line("\xFF"), "\xC3\xBF");
  // Sequences io/utf8.h rejects (overlong, surrogate, truncated) make the line Latin-1 as well.
  EXPECT_EQ(decode_text_line("\xC0\x80"), "\xC3\x80\xC2\x80");
  EXPECT_EQ(decode_text_line("\xED\xA0\x80"), "\xC3\xAD\xC2\xA0\xC2\x80");
  EXPECT_EQ(decode_text_line("a\xC3"), "a\xC3\x83");
}

TEST(NormalizeText, EachLineDecodedOnItsOwn) {
  // A stray Latin-1 byte on line 2 leaves the UTF-8 lines around it as they are.
  EXPECT_EQ(normalize_text(kCafeUtf8 + "\n" + kCafeLatin1 + "\n" + kCafeUtf8),
            kCafeUtf8 + "\n" + kCafeUtf8 + "\n" + kCafeUtf8);
  EXPECT_EQ(normalize_text(kCafeLatin1 + "\n"), kCafeUtf8 + "\n");
}

TEST(NormalizeText, CrBeforeLfIsDropped) {
  EXPECT_EQ(normalize_text("a\r\nb\r\n"), "a\nb\n");
  EXPECT_EQ(normalize_text(kCafeLatin1 + "\r\n" + kCafeUtf8 + "\r\n"), kCafeUtf8 + "\n" + kCafeUtf8 + "\n");
  EXPECT_EQ(normalize_text("a\rb\r"), "a\rb\r");  // a CR elsewhere is text
  EXPECT_EQ(normalize_text(""), "");
}

TEST(ReadDocuments, TextFileWithAStrayLatin1Line) {
  const TempFile f("mixed.txt", "caf\xC3\xA9 au lait\r\nna\xEFve\n\xE6\x97\xA5\xE6\x9C\xAC\n");
  const std::vector<Document> docs = read_documents(f.path.string());
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].text, "caf\xC3\xA9 au lait\nna\xC3\xAFve\n\xE6\x97\xA5\xE6\x9C\xAC\n");
}

TEST(ReadDocuments, JsonlLineWithALatin1ByteIsReadAsLatin1) {
  const TempFile f("mixed.jsonl", "{\"text\": \"" + kCafeUtf8 + "\"}\n{\"text\": \"" + kCafeLatin1 + "\"}\n");
  const std::vector<Document> docs = read_documents(f.path.string());
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].text, kCafeUtf8);
  EXPECT_EQ(docs[1].text, kCafeUtf8);
}

// A JSONL line with a number beyond double's range: the file and line named, not nlohmann's raw error.
TEST(ReadDocuments, JsonlNumberOutOfRangeNamesTheLine) {
  const TempFile f("big.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\", \"n\": 1e400}\n");
  try {
    read_documents(f.path.string());
    FAIL() << "accepted 1e400";
  } catch (const FormatError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(f.path.string() + ":2: malformed JSON", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace gq
