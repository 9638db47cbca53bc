// Tokenizer metadata for a gemma4 GGUF (tokenizer.ggml.model = "gemma4": llama.cpp's BPE vocab with
// SentencePiece-style "▁" and <0xXX> byte fallback). Three sources:
//  (a) the Hugging Face tokenizer.json next to the checkpoint (tokens in id order, merges, special
//      ids, chat template from chat_template.jinja or tokenizer_config.json), the way llama.cpp's
//      converter reads it;
//  (b) for test checkpoints without a tokenizer, a synthesized vocabulary of exactly vocab_size tokens
//      (gemma4-architecture.md §7.3): specials, 256 byte tokens, then "\n", "▁", letters, "▁x..." with
//      merges whose halves exist. Tests drive llama.cpp with token ids, so only loadability matters;
//  (c) a SentencePiece tokenizer.model (the project's own tokenizers): written as llama.cpp's
//      SentencePiece vocabulary ("llama"), which tokenizes as SentencePiece does (export/gguf_vocab_spm.h).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/gemma4_config.h"
#include "formats/gguf.h"

namespace gq {

// llama.cpp's token types (tokenizer.ggml.token_type).
enum GgufTokenType : int32_t { kTokNormal = 1, kTokUnknown = 2, kTokControl = 3, kTokUserDefined = 4, kTokUnused = 5, kTokByte = 6 };

struct GgufVocab {
  std::string source;            // the tokenizer.json / tokenizer.model path, or "synthesized"
  std::string model = "gemma4";  // tokenizer.ggml.model: "gemma4" (BPE + merges) or "llama" (SentencePiece)
  bool add_space_prefix = false; // "llama" only (llama.cpp ignores it for BPE vocabularies)
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  std::vector<std::string> merges;  // "left right"
  int64_t bos = 2, eos = 1, unk = 3, pad = 0;
  std::string chat_template;        // "" if none
  std::vector<std::string> warnings;
};

// (a) from `dir`/tokenizer.json; FormatError naming the file and field when it is not a byte-fallback
// BPE tokenizer or ids are inconsistent. A token list shorter than vocab_size is padded with
// "[PAD<id>]" UNUSED tokens (as gguf-py does); a longer one is an error.
GgufVocab load_hf_vocab(const std::string& dir, const Gemma4Config& cfg);
// (b) exactly cfg.vocab_size tokens.
GgufVocab synthesize_vocab(const Gemma4Config& cfg);
// (a) when `dir` has a tokenizer.json, else (c) when it has a tokenizer.model, else (b).
GgufVocab gemma4_vocab(const std::string& dir, const Gemma4Config& cfg);

// The tokenizer.* keys with llama.cpp's exact types.
std::vector<std::pair<std::string, GgufValue>> vocab_metadata(const GgufVocab& v);

}  // namespace gq
