#include "cli/data_setup.h"

#include <filesystem>

#include "io/error.h"
#include "run/run_folder.h"
#include "text/corpus.h"
#include "text/tokenizer.h"

namespace gq::cli {

std::string tokenizer_for(const std::string& tokenizer, const std::string& model) {
  if (tokenizer.empty()) return model.empty() ? "" : run_folder::tokenizer_file(model);
  std::error_code ec;
  if (!std::filesystem::is_directory(tokenizer, ec)) return tokenizer;
  const std::string file = run_folder::tokenizer_file(tokenizer);
  return file.empty() ? tokenizer : file;  // load_tokenizer names what the folder lacks
}

std::vector<std::vector<int32_t>> load_token_documents(const std::string& data, const std::string& tokenizer,
                                                       int64_t vocab_size) {
  std::vector<std::vector<int32_t>> out;
  std::unique_ptr<Tokenizer> tok;
  for (Document& d : read_documents(data)) {
    if (d.ids.empty()) {
      if (tokenizer.empty())
        throw FormatError(d.source + ": text data needs --tokenizer (tokenizer.json folder or SentencePiece .model)");
      if (!tok) {
        tok = load_tokenizer(tokenizer);
        if (tok->vocab_size() > vocab_size)
          throw FormatError(tokenizer + ": " + std::to_string(tok->vocab_size()) + " token ids do not fit the model's vocabulary of " +
                            std::to_string(vocab_size));
      }
      d.ids = tok->encode(d.text, /*add_special=*/false);  // BOS is added per document when packing
      if (d.ids.empty()) continue;
    }
    for (int32_t id : d.ids)
      if (id >= vocab_size)
        throw FormatError(d.source + ": token id " + std::to_string(id) + " is outside the model's vocabulary of " +
                          std::to_string(vocab_size));
    out.push_back(std::move(d.ids));
  }
  if (out.empty()) throw FormatError(data + ": no documents");
  return out;
}

}  // namespace gq::cli
