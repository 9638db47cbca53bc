// A Hugging Face tokenizer.json with a BPE model (Gemma's: byte fallback, spaces as U+2581), encoded
// and decoded the way the Rust `tokenizers` library does, step by step:
//   1. added tokens (special or not) are cut out of the raw text, longest match at the leftmost place;
//   2. the rest is normalized (Replace, Prepend, Sequence);
//   3. pre-tokenized (Split on a string or a simple regex, Sequence) into words;
//   4. each word goes through the BPE model (bpe_model.h);
//   5. add_special applies the post_processor (TemplateProcessing: Gemma's BOS prefix).
// Decoding maps ids to pieces and runs the decoder chain (Replace, ByteFallback, Fuse, Strip).
// Anything else in the file is refused at load time with an error naming the component, so a
// tokenizer we would get wrong never loads.
#pragma once
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "text/bpe_model.h"
#include "text/tokenizer.h"

namespace gq {

namespace hf {
struct Pipeline;  // normalizer, pre-tokenizer, decoder and post-processor steps (hf_tokenizer.cpp)
}

class HfTokenizer final : public Tokenizer {
 public:
  // `config_path`: tokenizer_config.json for the bos/eos/pad names, or "" to use the file alone
  // (then <bos>/<eos>/<pad> by name, and the post-processor's first special token as BOS).
  static std::unique_ptr<HfTokenizer> load(const std::string& json_path, const std::string& config_path = "");
  // The same on parsed documents (`config`: null for none); the names are those errors give.
  // Files that carry a tokenizer inside them (GGUF metadata, a native file) load through this.
  static std::unique_ptr<HfTokenizer> from_json(nlohmann::json tokenizer, const nlohmann::json& config,
                                                const std::string& json_path, const std::string& config_path);
  ~HfTokenizer() override;

  std::vector<TokenId> encode(std::string_view text, bool add_special) const override;
  std::string decode(const std::vector<TokenId>& ids) const override;
  int32_t vocab_size() const override { return vocab_size_; }
  TokenId bos_id() const override { return bos_; }
  TokenId eos_id() const override { return eos_; }
  TokenId pad_id() const override { return pad_; }
  TokenId unk_id() const override { return model_.unk_id(); }
  std::string piece(TokenId id) const override;
  TokenId piece_id(std::string_view piece) const override;
  std::string describe() const override;

  struct AddedToken {
    std::string content;
    TokenId id;
    bool special, normalized, lstrip, rstrip;
  };

 private:
  HfTokenizer(std::string source, BpeModel model, std::vector<AddedToken> added, std::unique_ptr<hf::Pipeline> pipeline);
  // Appends the ids of a stretch of text that holds no raw-matched added token.
  void encode_normalized(std::string_view text, std::vector<TokenId>& out) const;

  std::string source_;
  BpeModel model_;
  std::vector<AddedToken> added_;
  std::unordered_map<TokenId, size_t> added_by_id_;
  std::unordered_map<std::string, TokenId> added_by_content_;  // added tokens win over the vocab, as in Rust
  std::unique_ptr<hf::Pipeline> pipeline_;
  int32_t vocab_size_ = 0;
  TokenId bos_ = -1, eos_ = -1, pad_ = -1;
};

}  // namespace gq
