// Gemma's chat turn formats: which templates are recognised, the prompt text each formats, and the
// vocabulary check that picks a format for a file without a template.
#include "text/chat_format.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/text/small_gemma_tokenizer.h"
#include "text/hf_tokenizer.h"

namespace gq {
namespace {

using nlohmann::json;

TEST(ChatFormat, RecognisesGemmaTemplatesByTheirTurnMarkers) {
  EXPECT_EQ(recognise_chat_template("{{ bos_token }}{% for m in messages %}<|turn>{{ m['role'] }}\n{{ m['content'] }}<turn|>\n{% endfor %}"),
            ChatFormat::Gemma4);
  EXPECT_EQ(recognise_chat_template("{{ bos_token }}<start_of_turn>user\n{{ x }}<end_of_turn>\n"), ChatFormat::Gemma3);
  EXPECT_EQ(recognise_chat_template("<|im_start|>user\n{{ x }}<|im_end|>"), ChatFormat::None);
  EXPECT_EQ(recognise_chat_template("<start_of_turn> without its end"), ChatFormat::None);
  EXPECT_EQ(recognise_chat_template(""), ChatFormat::None);
}

TEST(ChatFormat, FormatsOneUserTurnAndTheStartOfTheModelsTurn) {
  EXPECT_EQ(format_chat_prompt(ChatFormat::Gemma4, "", "Hi"), "<|turn>user\nHi<turn|>\n<|turn>model\n");
  EXPECT_EQ(format_chat_prompt(ChatFormat::Gemma4, "Be brief.", "Hi"),
            "<|turn>system\nBe brief.<turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\n");
  EXPECT_EQ(format_chat_prompt(ChatFormat::Gemma3, "", "Hi"), "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");
  // Gemma 3 has no system role: the system text leads the user turn.
  EXPECT_EQ(format_chat_prompt(ChatFormat::Gemma3, "Be brief.", "Hi"),
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n");
}

TEST(ChatFormat, TheVocabularyNamesTheFormatOnlyWithBothMarkers) {
  json j = test::small_gemma_like();  // has <start_of_turn> (id 4) but no <end_of_turn>
  EXPECT_EQ(chat_format_of_vocabulary(*HfTokenizer::from_json(j, json(), "small", "")), ChatFormat::None);
  j["added_tokens"].push_back({{"id", 281}, {"content", "<end_of_turn>"}, {"special", true}});
  const auto tok = HfTokenizer::from_json(j, json(), "small", "");
  EXPECT_EQ(chat_format_of_vocabulary(*tok), ChatFormat::Gemma3);
  EXPECT_EQ(end_of_turn_id(ChatFormat::Gemma3, *tok), 281);
  EXPECT_EQ(end_of_turn_id(ChatFormat::Gemma4, *tok), -1);
  EXPECT_EQ(end_of_turn_id(ChatFormat::None, *tok), -1);
  EXPECT_EQ(turn_stop_ids(ChatFormat::Gemma3, *tok), (std::vector<TokenId>{281}));
  EXPECT_TRUE(turn_stop_ids(ChatFormat::None, *tok).empty());
}

TEST(ChatFormat, Gemma4StopsAtTheEndOfATurnAndAtAToolResponse) {
  json j = test::small_gemma_like();
  j["added_tokens"].push_back({{"id", 281}, {"content", "<|turn>"}, {"special", true}});
  j["added_tokens"].push_back({{"id", 282}, {"content", "<turn|>"}, {"special", true}});
  EXPECT_EQ(turn_stop_ids(ChatFormat::Gemma4, *HfTokenizer::from_json(j, json(), "small", "")), (std::vector<TokenId>{282}));
  j["added_tokens"].push_back({{"id", 283}, {"content", "<|tool_response>"}, {"special", true}});
  const auto tok = HfTokenizer::from_json(j, json(), "small", "");
  EXPECT_EQ(chat_format_of_vocabulary(*tok), ChatFormat::Gemma4);
  EXPECT_EQ(turn_stop_ids(ChatFormat::Gemma4, *tok), (std::vector<TokenId>{282, 283}));
}

}  // namespace
}  // namespace gq
