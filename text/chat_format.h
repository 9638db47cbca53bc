// Gemma's chat turn formats, written in C++ rather than run through a Jinja engine: a template is
// recognised by its turn markers, and the prompt for one user turn (and an optional system turn) is
// formatted as the template renders it with add_generation_prompt. BOS is not part of the text:
// encoding with add_special adds it, as the template's {{ bos_token }} does.
//   Gemma 4: <|turn>system\n{system}<turn|>\n<|turn>user\n{user}<turn|>\n<|turn>model\n
//   Gemma 3: <start_of_turn>user\n{system}\n\n{user}<end_of_turn>\n<start_of_turn>model\n
//            (Gemma 3 has no system role: its template puts the system text before the first user text)
#pragma once
#include <string>
#include <vector>

#include "text/tokenizer.h"

namespace gq {

enum class ChatFormat { None, Gemma4, Gemma3 };

const char* chat_format_name(ChatFormat f);  // "none", "Gemma 4", "Gemma 3"

// The format of a chat template (Jinja source): None for "" or a template that is neither Gemma's.
ChatFormat recognise_chat_template(const std::string& jinja);
// For a file without a template: Gemma 4's or Gemma 3's when both of its turn markers are tokens of
// `tok`, else None.
ChatFormat chat_format_of_vocabulary(const Tokenizer& tok);

// The prompt text for one user turn and the start of the model's turn; `system` "" for none.
std::string format_chat_prompt(ChatFormat f, const std::string& system, const std::string& user);

// The token that ends a turn (<turn|> / <end_of_turn>), -1 if `tok` has none.
TokenId end_of_turn_id(ChatFormat f, const Tokenizer& tok);
// The tokens of `tok` that end the model's turn, as llama.cpp's end-of-generation set: the end of a
// turn, and for Gemma 4 also <|tool_response> (a tool call is complete; its answer is the caller's).
std::vector<TokenId> turn_stop_ids(ChatFormat f, const Tokenizer& tok);

}  // namespace gq
