// The tokenizer a GGUF file carries in its tokenizer.ggml.* keys, read as llama.cpp reads it, and the
// chat template in tokenizer.chat_template. Both vocabulary forms the exporter writes
// (export/gguf_vocab.h) are expressed as the Hugging Face pipeline that tokenizes like llama.cpp and
// loaded through text/hf_tokenizer.h, so there is one BPE implementation:
//  - "gemma4": BPE with the file's merge ranks, spaces escaped to "▁", text split into runs of
//    newlines and the rest (llama.cpp's gemma4 pre-tokenizer), no space prefix;
//  - "llama" (SentencePiece): merges ordered by the merged piece's score, highest first (llama.cpp's
//    llm_tokenizer_spm merges the adjacent pair whose concatenation scores highest; HF's converter
//    writes the same order), a "▁" prefix at the start and after each special token when
//    tokenizer.ggml.add_space_prefix, and that one leading space stripped again when decoding.
// CONTROL, USER_DEFINED and UNKNOWN tokens written in the text become their ids (llama.cpp's
// parse_special); the rest is byte-fallback BPE. Where llama.cpp's SentencePiece merge could pass
// through a character that is no piece of its own (never, for a BPE-trained vocabulary whose
// character coverage is 1) the two differ; equal scores are ordered by id.
#pragma once
#include <memory>
#include <string>

#include "formats/gguf.h"
#include "text/tokenizer.h"

namespace gq::engine {

// FormatError naming the file and key when the vocabulary is missing, of another model type
// ("gpt2", ...), or inconsistent (duplicate tokens, a special id outside it).
std::unique_ptr<Tokenizer> gguf_tokenizer(const GgufFile& file);

// tokenizer.chat_template, or "" when the file has none.
std::string gguf_chat_template(const GgufFile& file);

}  // namespace gq::engine
