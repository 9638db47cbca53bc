// Text for calibration, evaluation and training: files or folders of plain text (.txt and anything
// else), JSONL (.jsonl: one document per line, its "text" field) and pre-tokenized id files (.ids:
// one sequence per line, ids separated by spaces or commas). Text is normalised on the way in
// (normalize_text): CRLF -> LF, and a line that is not valid UTF-8 is read as Latin-1 (Project
// Gutenberg files come in both encodings, and a stray Latin-1 byte spoils only its own line).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gq {

struct Document {
  std::string source;          // "file" or "file:line"
  std::string text;            // UTF-8 (empty for .ids documents)
  std::vector<int32_t> ids;    // only for .ids documents
};

// Files of a folder are read in byte-wise sorted path order (recursively), so every machine sees
// the same order. Throws FormatError naming the file (and line) on unreadable or malformed input.
std::vector<Document> read_documents(const std::string& path);

// One line of text as UTF-8: the line itself when it is valid UTF-8 (io/utf8.h), else every byte
// taken as Latin-1. What every command that reads text lines (tokenize, eval, calibrate, train)
// decodes each line with; JSONL lines are decoded before they are parsed.
std::string decode_text_line(std::string_view line);

// A text file's contents: each line through decode_text_line; CR before LF is dropped.
std::string normalize_text(const std::string& raw);

// Fixed-length training windows: documents are concatenated, each prefixed with BOS, and cut into
// windows of seq_len + 1 tokens (inputs = window[0..seq_len), targets = window[1..seq_len]).
// Consecutive windows overlap by one token so no target is lost. A tail shorter than a window is
// dropped.
struct TokenWindows {
  int64_t seq_len = 0;
  std::vector<int32_t> tokens;  // the concatenated stream
  int64_t count() const;
  const int32_t* window(int64_t i) const { return tokens.data() + i * seq_len; }  // seq_len + 1 tokens
};
TokenWindows pack_documents(const std::vector<std::vector<int32_t>>& docs, int64_t seq_len, int32_t bos);

// A deterministic permutation of [0, n) for (seed, epoch): the same on every machine and build.
std::vector<int64_t> shuffled_order(int64_t n, uint64_t seed, uint64_t epoch);

}  // namespace gq
