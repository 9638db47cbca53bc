// Text of generated ids as they come, for streaming: after each id, the part of the decoded text
// that is complete. Decoding a growing window of ids (the ids since the last emitted text, after the
// ids before them) and emitting what the window's text gained handles what decoding id by id gets
// wrong: a character split across <0xXX> byte tokens (the window's text ends in U+FFFD until its
// last byte arrives), a SentencePiece "▁" that becomes a space only after another piece, and a
// tokenizer that strips the first piece's leading space (the window always starts after a context).
#pragma once
#include <string>
#include <vector>

#include "text/tokenizer.h"

namespace gq {

class StreamDecoder {
 public:
  // `context`: ids decoded before the streamed ones, never emitted (the prompt, or its last few ids).
  // `tok` must outlive the decoder.
  StreamDecoder(const Tokenizer& tok, std::vector<TokenId> context);

  // Adds one id; returns the newly completed text, "" while a character is incomplete.
  std::string push(TokenId id);
  // The text held back at the end (an incomplete character decodes to U+FFFD, as decode() gives it).
  std::string finish();

 private:
  std::string text_since(size_t from) const;
  const Tokenizer& tok_;
  std::vector<TokenId> ids_;
  size_t prefix_ = 0;  // the window starts here: the ids of the last emitted text
  size_t read_ = 0;    // ids up to here are emitted
};

}  // namespace gq
