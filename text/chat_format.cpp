#include "text/chat_format.h"

#include "io/error.h"

namespace gq {
namespace {

struct Markers {
  const char* start;
  const char* end;
};

Markers markers(ChatFormat f) {
  switch (f) {
    case ChatFormat::Gemma4: return {"<|turn>", "<turn|>"};
    case ChatFormat::Gemma3: return {"<start_of_turn>", "<end_of_turn>"};
    case ChatFormat::None: break;
  }
  throw FormatError("no chat format to take turn markers from");
}

bool has_markers(const Tokenizer& tok, ChatFormat f) {
  const Markers m = markers(f);
  return tok.piece_id(m.start) >= 0 && tok.piece_id(m.end) >= 0;
}

}  // namespace

const char* chat_format_name(ChatFormat f) {
  switch (f) {
    case ChatFormat::Gemma4: return "Gemma 4";
    case ChatFormat::Gemma3: return "Gemma 3";
    case ChatFormat::None: break;
  }
  return "none";
}

ChatFormat recognise_chat_template(const std::string& jinja) {
  for (const ChatFormat f : {ChatFormat::Gemma4, ChatFormat::Gemma3}) {
    const Markers m = markers(f);
    if (jinja.find(m.start) != std::string::npos && jinja.find(m.end) != std::string::npos) return f;
  }
  return ChatFormat::None;
}

ChatFormat chat_format_of_vocabulary(const Tokenizer& tok) {
  for (const ChatFormat f : {ChatFormat::Gemma4, ChatFormat::Gemma3})
    if (has_markers(tok, f)) return f;
  return ChatFormat::None;
}

std::string format_chat_prompt(ChatFormat f, const std::string& system, const std::string& user) {
  const Markers m = markers(f);
  const std::string start = m.start, end = m.end;
  auto turn = [&](const char* role, const std::string& text) { return start + role + "\n" + text + end + "\n"; };
  std::string out;
  if (f == ChatFormat::Gemma4) {
    if (!system.empty()) out += turn("system", system);
    out += turn("user", user);
  } else {
    out += turn("user", system.empty() ? user : system + "\n\n" + user);
  }
  return out + start + "model\n";
}

TokenId end_of_turn_id(ChatFormat f, const Tokenizer& tok) {
  return f == ChatFormat::None ? -1 : tok.piece_id(markers(f).end);
}

std::vector<TokenId> turn_stop_ids(ChatFormat f, const Tokenizer& tok) {
  std::vector<TokenId> out;
  if (f == ChatFormat::None) return out;
  std::vector<const char*> names = {markers(f).end};
  if (f == ChatFormat::Gemma4) names.push_back("<|tool_response>");  // the model hands over to a tool
  for (const char* name : names)
    if (const TokenId id = tok.piece_id(name); id >= 0) out.push_back(id);
  return out;
}

}  // namespace gq
