#include "text/stream_decoder.h"

#include <utility>

namespace gq {
namespace {

const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD: what decoding gives an incomplete character

bool ends_incomplete(const std::string& s) {
  return s.size() >= kReplacement.size() && s.compare(s.size() - kReplacement.size(), kReplacement.size(), kReplacement) == 0;
}

}  // namespace

StreamDecoder::StreamDecoder(const Tokenizer& tok, std::vector<TokenId> context)
    : tok_(tok), ids_(std::move(context)), prefix_(0), read_(ids_.size()) {}

std::string StreamDecoder::text_since(size_t from) const {
  return tok_.decode(std::vector<TokenId>(ids_.begin() + long(from), ids_.end()));
}

std::string StreamDecoder::push(TokenId id) {
  ids_.push_back(id);
  const std::string before = tok_.decode(std::vector<TokenId>(ids_.begin() + long(prefix_), ids_.begin() + long(read_)));
  const std::string now = text_since(prefix_);
  // Held back while the window's text is no longer than before (a "▁" alone, a partial character)
  // or rewrites what was emitted (a decoder step that looks at the next piece).
  if (now.size() <= before.size() || ends_incomplete(now) || now.compare(0, before.size(), before) != 0) return "";
  prefix_ = read_;
  read_ = ids_.size();
  return now.substr(before.size());
}

std::string StreamDecoder::finish() {
  if (read_ == ids_.size()) return "";
  const std::string before = tok_.decode(std::vector<TokenId>(ids_.begin() + long(prefix_), ids_.begin() + long(read_)));
  const std::string now = text_since(prefix_);
  size_t common = 0;
  while (common < before.size() && common < now.size() && before[common] == now[common]) ++common;
  prefix_ = read_ = ids_.size();
  return now.substr(common);
}

}  // namespace gq
