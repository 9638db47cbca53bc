// Token documents for a command: .ids files as they are, text through a tokenizer.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gq::cli {

// The tokenizer a command reads text with: `tokenizer` (--tokenizer) when given, else the one that
// ships with `model` (run_folder::tokenizer_file: a checkpoint's or a run's). A folder given as
// `tokenizer` (checkpoint or run) stands for the tokenizer file it holds. "" when neither names a
// tokenizer.
std::string tokenizer_for(const std::string& tokenizer, const std::string& model);

// `tokenizer` may be empty when the data is pre-tokenized (.ids); text without one is an error.
std::vector<std::vector<int32_t>> load_token_documents(const std::string& data, const std::string& tokenizer,
                                                       int64_t vocab_size);

}  // namespace gq::cli
