// A SentencePiece .model through libsentencepiece: the project's own small tokenizers (trained with
// spm_train, byte fallback) and Gemma's tokenizer.model. libsentencepiece is reached through
// libgq_spm, loaded at run time (formats/spm_shim/spm_shim.h says why).
#pragma once
#include <memory>
#include <string>

#include "text/tokenizer.h"

struct gq_spm;

namespace gq {

class SpmTokenizer final : public Tokenizer {
 public:
  static std::unique_ptr<SpmTokenizer> load(const std::string& path);  // FormatError naming the path
  // The bytes of a .model file; `source` names them in errors.
  static std::unique_ptr<SpmTokenizer> from_bytes(const std::string& bytes, const std::string& source);
  ~SpmTokenizer() override;

  // add_special prepends BOS when the model has one (SentencePiece leaves BOS/EOS to the caller;
  // BOS only is Gemma's convention). Control pieces written in the text stay text, as in SentencePiece.
  std::vector<TokenId> encode(std::string_view text, bool add_special) const override;
  std::string decode(const std::vector<TokenId>& ids) const override;
  int32_t vocab_size() const override { return size_; }
  TokenId bos_id() const override { return bos_; }
  TokenId eos_id() const override { return eos_; }
  TokenId pad_id() const override { return pad_; }
  TokenId unk_id() const override { return unk_; }
  std::string piece(TokenId id) const override;
  TokenId piece_id(std::string_view piece) const override;
  std::string describe() const override;

 private:
  SpmTokenizer(std::string path, gq_spm* sp);
  std::string path_;
  gq_spm* sp_;
  int32_t size_;
  TokenId bos_, eos_, pad_, unk_;
};

}  // namespace gq
