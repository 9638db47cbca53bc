#include "text/corpus.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/error.h"
#include "io/text_file.h"
#include "io/utf8.h"

namespace gq {
namespace {

namespace fs = std::filesystem;

void read_ids(const std::string& path, std::vector<Document>& out) {
  std::istringstream in(read_text_file(path));
  std::string line;
  for (int64_t ln = 1; std::getline(in, line); ++ln) {
    Document d{path + ":" + std::to_string(ln), "", {}};
    std::string tok;
    for (char& c : line) c = (c == ',' || c == '\t' || c == '\r') ? ' ' : c;
    std::istringstream ls(line);
    while (ls >> tok) {
      char* end = nullptr;
      const long v = std::strtol(tok.c_str(), &end, 10);
      if (*end != '\0' || v < 0 || v > INT32_MAX) throw FormatError(d.source + ": '" + tok + "' is not a token id");
      d.ids.push_back(int32_t(v));
    }
    if (!d.ids.empty()) out.push_back(std::move(d));
  }
}

void read_jsonl(const std::string& path, std::vector<Document>& out) {
  std::istringstream in(read_text_file(path));
  std::string line;
  for (int64_t ln = 1; std::getline(in, line); ++ln) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(ln);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(decode_text_line(line));
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(where + ": malformed JSON: " + e.what());
    }
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
      throw FormatError(where + ": expected an object with a string field \"text\"");
    out.push_back({where, normalize_text(j["text"].get<std::string>()), {}});
  }
}

void read_one(const fs::path& p, std::vector<Document>& out) {
  const std::string ext = p.extension().string();
  if (ext == ".ids") read_ids(p.string(), out);
  else if (ext == ".jsonl") read_jsonl(p.string(), out);
  else out.push_back({p.string(), normalize_text(read_text_file(p.string())), {}});
}

}  // namespace

std::string decode_text_line(std::string_view line) {
  if (utf8::find_invalid(line) == std::string_view::npos) return std::string(line);
  std::string s;
  s.reserve(line.size() + line.size() / 8);
  for (char ch : line) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      s.push_back(ch);
    } else {
      s.push_back(char(0xC0 | (c >> 6)));
      s.push_back(char(0x80 | (c & 0x3F)));
    }
  }
  return s;
}

std::string normalize_text(const std::string& raw) {
  const std::string_view text(raw);
  std::string out;
  out.reserve(raw.size());
  for (size_t begin = 0;;) {
    const size_t lf = text.find('\n', begin);
    std::string_view line = text.substr(begin, lf == std::string_view::npos ? lf : lf - begin);
    if (lf != std::string_view::npos && !line.empty() && line.back() == '\r') line.remove_suffix(1);
    out += decode_text_line(line);
    if (lf == std::string_view::npos) return out;
    out.push_back('\n');
    begin = lf + 1;
  }
}

std::vector<Document> read_documents(const std::string& path) {
  std::error_code ec;
  std::vector<Document> out;
  if (fs::is_directory(path, ec)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(path, ec))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) { return a.string() < b.string(); });
    for (const fs::path& f : files) read_one(f, out);
    if (files.empty()) throw FormatError(path + ": folder holds no files");
  } else if (fs::is_regular_file(path, ec)) {
    read_one(path, out);
  } else {
    throw FormatError(path + ": no such file or folder");
  }
  return out;
}

int64_t TokenWindows::count() const {
  return seq_len > 0 && int64_t(tokens.size()) > seq_len ? (int64_t(tokens.size()) - 1) / seq_len : 0;
}

TokenWindows pack_documents(const std::vector<std::vector<int32_t>>& docs, int64_t seq_len, int32_t bos) {
  if (seq_len <= 0) throw FormatError("sequence length must be positive");
  TokenWindows w;
  w.seq_len = seq_len;
  for (const auto& d : docs) {
    if (d.empty()) continue;
    w.tokens.push_back(bos);
    w.tokens.insert(w.tokens.end(), d.begin(), d.end());
  }
  return w;
}

std::vector<int64_t> shuffled_order(int64_t n, uint64_t seed, uint64_t epoch) {
  // splitmix64 stream + Fisher-Yates: no dependence on the standard library's distributions.
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + epoch * 0xD1B54A32D192ED03ull + 1;
  auto next = [&state] {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[size_t(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[size_t(i)], order[size_t(next() % uint64_t(i + 1))]);
  return order;
}

}  // namespace gq
