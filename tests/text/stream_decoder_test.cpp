// StreamDecoder on the small Gemma-shaped tokenizer (tests/text/small_gemma_tokenizer.h): characters
// split across <0xXX> byte tokens come out whole, once; what the pushes emit adds up to the decoded
// text; the first new piece keeps its leading space even where the decoder strips a first piece's.
#include "text/stream_decoder.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/text/small_gemma_tokenizer.h"
#include "text/hf_tokenizer.h"

namespace gq {
namespace {

using nlohmann::json;
using Ids = std::vector<TokenId>;

constexpr TokenId kBos = 2, kStartOfTurn = 4, kNewline = 5, kHello = 274, kSpace = 263, kWorld = 279, kH = 264;
TokenId byte_id(int b) { return 7 + b; }

std::unique_ptr<HfTokenizer> small(bool strip_first_space = false) {
  json j = test::small_gemma_like();
  if (strip_first_space)  // as SentencePiece-style (Llama) decoders do for the dummy prefix
    j["decoder"]["decoders"].push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
  return HfTokenizer::from_json(j, json(), "small tokenizer.json", "");
}

// Pushes each id; returns what each push emitted, then finish() as the last element.
std::vector<std::string> stream(const Tokenizer& tok, const Ids& context, const Ids& ids) {
  StreamDecoder d(tok, context);
  std::vector<std::string> out;
  for (TokenId id : ids) out.push_back(d.push(id));
  out.push_back(d.finish());
  return out;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string s;
  for (const std::string& p : parts) s += p;
  return s;
}

TEST(StreamDecoder, TwoByteCharacterSplitAcrossByteTokensComesOutWhenComplete) {
  const auto tok = small();
  // é = C3 A9
  EXPECT_EQ(stream(*tok, {kBos}, {kH, byte_id(0xC3), byte_id(0xA9), kH}),
            (std::vector<std::string>{"h", "", "\xC3\xA9", "h", ""}));
}

TEST(StreamDecoder, ThreeAndFourByteCharactersSplitAcrossByteTokens) {
  const auto tok = small();
  // 日 = E6 97 A5, 😀 = F0 9F 98 80
  EXPECT_EQ(stream(*tok, {kBos}, {byte_id(0xE6), byte_id(0x97), byte_id(0xA5), byte_id(0xF0), byte_id(0x9F), byte_id(0x98), byte_id(0x80)}),
            (std::vector<std::string>{"", "", "\xE6\x97\xA5", "", "", "", "\xF0\x9F\x98\x80", ""}));
}

TEST(StreamDecoder, AnIncompleteCharacterAtTheEndIsFlushedAsDecodeGivesIt) {
  const auto tok = small();
  const std::vector<std::string> parts = stream(*tok, {kBos}, {kHello, byte_id(0xE6), byte_id(0x97)});
  EXPECT_EQ(parts, (std::vector<std::string>{"hello", "", "", "\xEF\xBF\xBD\xEF\xBF\xBD"}));
  EXPECT_EQ(joined(parts), tok->decode({kHello, byte_id(0xE6), byte_id(0x97)}));
}

TEST(StreamDecoder, PiecesAddUpToTheDecodedTextAfterTheContext) {
  const auto tok = small();
  const Ids context = {kBos, kHello};
  const Ids ids = {kWorld, kSpace, byte_id(0xC3), byte_id(0xA9), kNewline, kStartOfTurn, kHello, kSpace, kSpace, kWorld,
                   byte_id(0xF0), byte_id(0x9F), byte_id(0x98), byte_id(0x80)};
  Ids all = context;
  all.insert(all.end(), ids.begin(), ids.end());
  const std::string full = tok->decode(all), before = tok->decode(context);
  ASSERT_EQ(full.compare(0, before.size(), before), 0);
  const std::vector<std::string> parts = stream(*tok, context, ids);
  EXPECT_EQ(joined(parts), full.substr(before.size()));
  // Every emitted part is whole UTF-8 text: no byte of a character is emitted apart from the rest.
  for (const std::string& p : parts) EXPECT_EQ(p.find("\xEF\xBF\xBD"), std::string::npos) << p;
  EXPECT_EQ(parts[0], " world");
}

TEST(StreamDecoder, TheFirstNewPieceKeepsItsSpaceWhereTheDecoderStripsTheFirstPiece) {
  const auto tok = small(/*strip_first_space=*/true);
  ASSERT_EQ(tok->decode({kWorld}), "world");  // decoded alone, the space is gone
  EXPECT_EQ(joined(stream(*tok, {kHello}, {kWorld, kWorld})), " world world");
  EXPECT_EQ(joined(stream(*tok, {}, {kWorld, kWorld})), "world world");  // no context: as decode() of them
}

}  // namespace
}  // namespace gq
