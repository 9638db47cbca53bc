// Token documents for a command: .ids files as they are, text through a tokenizer.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gq::cli {

// `tokenizer` may be empty when the data is pre-tokenized (.ids); text without one is an error.
std::vector<std::vector<int32_t>> load_token_documents(const std::string& data, const std::string& tokenizer,
                                                       int64_t vocab_size);

}  // namespace gq::cli
