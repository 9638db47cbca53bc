// Tokenizer metadata for a gemma4 GGUF from a SentencePiece .model (the project's own tokenizers,
// e.g. examples/models/tiny-e2b/tokenizer.model: BPE, byte fallback, trained by
// scripts/train-tokenizer.sh).
//
// Which form. llama.cpp (v0.5.0, the one node-llama-cpp 3.22.1 bundles) takes the vocabulary type
// from tokenizer.ggml.model alone, whatever the architecture, so a gemma4 file may carry either
//  - "gemma4": BPE with merge ranks, text pre-split into runs of newlines / non-newlines, spaces
//    escaped to "▁", but never a space prefix (add_space_prefix is ignored for BPE vocabularies):
//    "Hello" would start with "H", where SentencePiece's dummy prefix gives "▁Hello"; or
//  - "llama": SentencePiece's own algorithm (llm_tokenizer_spm_session): a space prefix when
//    tokenizer.ggml.add_space_prefix, spaces escaped to "▁", then adjacent pairs merged by the score
//    of the merged piece (highest first, leftmost on ties), symbols that are no piece emitted as
//    <0xXX> byte tokens. That is SentencePiece's BPE encoder step for step, so this is the form used.
//
// What cannot match. llama.cpp's "llama" vocabulary runs no normalizer, while SentencePiece first
// applies the model's normalizer_spec: the rule set (nmt_nfkc: NFKC, tab / newline / CR and other
// whitespace to " ", control characters removed) and remove_extra_whitespaces (leading and
// trailing whitespace dropped, runs of spaces collapsed to one). For a text the normalizer leaves
// unchanged the ids are identical; for any other text llama.cpp gives the ids of the text as
// written (e.g. "a\nb": <0x0A> for the newline, where SentencePiece has "▁b"). Normalizing first
// (SentencePiece's decode(encode(text)) is the normalized text) makes them identical again.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "export/gguf_vocab.h"
#include "model/gemma4_config.h"

namespace gq {

// The parts of a SentencePiece ModelProto (sentencepiece_model.proto) the exporter needs, with the
// proto2 defaults for absent fields.
struct SpmModelProto {
  enum ModelType : int32_t { kUnigram = 1, kBpe = 2, kWord = 3, kChar = 4 };
  struct Piece {
    std::string piece;
    float score = 0;
    int32_t type = 1;  // NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6 (= llama.cpp's)
  };
  std::vector<Piece> pieces;
  int32_t model_type = kUnigram;
  bool byte_fallback = false;
  bool treat_whitespace_as_suffix = false;
  int32_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
  std::string normalizer = "";  // normalizer_spec.name ("nmt_nfkc", "identity", ...)
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
  bool custom_rules = false;  // normalization_rule_tsv given
};

// Parses `bytes` (the content of a .model file); FormatError naming `source` when it is not a
// well-formed ModelProto.
SpmModelProto parse_spm_model(const std::string& bytes, const std::string& source);
SpmModelProto read_spm_model(const std::string& path);

// llama.cpp's "llama" (SentencePiece) vocabulary: pieces, scores and types in id order, the
// model's special ids, add_space_prefix = add_dummy_prefix, no merges. FormatError for models
// llama.cpp would tokenize differently whatever the text (not BPE, no byte fallback, whitespace as
// suffix, more pieces than cfg.vocab_size); fewer pieces are padded with [PAD<id>] UNUSED tokens.
// A normalizer llama.cpp cannot reproduce gives one warning (see the top of this file).
GgufVocab spm_vocab(const SpmModelProto& m, const std::string& source, const Gemma4Config& cfg);
GgufVocab load_spm_vocab(const std::string& model_path, const Gemma4Config& cfg);

}  // namespace gq
