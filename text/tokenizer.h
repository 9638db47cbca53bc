// The tokenizer interface every consumer (data pipeline, CLI, exporters) talks to, and the loader that
// picks the implementation from what is on disk.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gq {

using TokenId = int32_t;  // Gemma's 262k vocabulary fits; halves the memory of tokenized corpora

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // `text` must be valid UTF-8 (FormatError otherwise). add_special adds what the tokenizer's own
  // configuration adds for a single sequence (BOS for Gemma); special-token strings inside the text,
  // such as "<start_of_turn>", become their ids either way, as in Hugging Face.
  virtual std::vector<TokenId> encode(std::string_view text, bool add_special) const = 0;
  // Keeps special tokens (Hugging Face's skip_special_tokens=False). FormatError on an unknown id.
  virtual std::string decode(const std::vector<TokenId>& ids) const = 0;

  virtual int32_t vocab_size() const = 0;  // one past the largest id
  // -1 where the tokenizer has none.
  virtual TokenId bos_id() const = 0;
  virtual TokenId eos_id() const = 0;
  virtual TokenId pad_id() const = 0;
  virtual TokenId unk_id() const = 0;

  virtual std::string piece(TokenId id) const = 0;              // FormatError if out of range
  virtual TokenId piece_id(std::string_view piece) const = 0;   // -1 if no such piece
  virtual std::string describe() const = 0;                     // e.g. "tokenizer.json (BPE, 262145 ids)"
};

// `path`: a folder holding tokenizer.json (with tokenizer_config.json beside it, optional) or
// tokenizer.model; a tokenizer.json file; or a SentencePiece .model file.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);
// A tokenizer carried inside another file (a native file's tokenizer field): the bytes of a
// tokenizer.json (preferred when both are given) or of a SentencePiece .model; `source` names them.
std::unique_ptr<Tokenizer> tokenizer_from_bytes(const std::string& json_bytes, const std::string& model_bytes,
                                                const std::string& source);

}  // namespace gq
