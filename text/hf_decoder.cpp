#include "text/hf_decoder.h"

#include <cctype>

#include "io/error.h"
#include "io/utf8.h"
#include "text/hf_component_json.h"

namespace gq::hf {

using nlohmann::json;

Decoder Decoder::parse(const json& j, const std::string& where) {
  return parse_steps<Decoder>(j, where, "decoders", [&](const std::string& type, Decoder& d) {
    if (type == "Replace") {
      d.steps.push_back({Step::Replace, Pattern::parse(j.value("pattern", json()), where), string_at(j, "content", where)});
    } else if (type == "ByteFallback" || type == "Fuse") {
      Step s;
      s.kind = type == "Fuse" ? Step::Fuse : Step::ByteFallback;
      d.steps.push_back(std::move(s));
    } else if (type == "Strip") {
      Step s;
      s.kind = Step::Strip;
      s.content = string_at(j, "content", where);
      if (s.content.empty() || utf8::char_len(static_cast<unsigned char>(s.content[0])) != s.content.size())
        throw FormatError(where + ": Strip content must be one character");
      s.start = j.value("start", size_t(0));
      s.stop = j.value("stop", size_t(0));
      d.steps.push_back(std::move(s));
    } else {
      unsupported(where, "decoder", type);
    }
  });
}

namespace {

// "<0xAB>" -> 0xAB, or -1.
int byte_piece(const std::string& p) {
  if (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>') return -1;
  if (!std::isxdigit(static_cast<unsigned char>(p[3])) || !std::isxdigit(static_cast<unsigned char>(p[4]))) return -1;
  return int(std::stoul(p.substr(3, 2), nullptr, 16));
}

// Runs of <0xXX> pieces become their bytes when those are valid UTF-8, else one U+FFFD per byte.
std::vector<std::string> byte_fallback(std::vector<std::string> pieces) {
  std::vector<std::string> out;
  std::string bytes;
  size_t n_bytes = 0;
  auto flush = [&] {
    if (n_bytes == 0) return;
    if (utf8::find_invalid(bytes) == std::string::npos) out.push_back(bytes);
    else
      for (size_t k = 0; k < n_bytes; ++k) out.push_back("\xEF\xBF\xBD");
    bytes.clear();
    n_bytes = 0;
  };
  for (std::string& p : pieces) {
    const int b = byte_piece(p);
    if (b >= 0) {
      bytes += char(b);
      ++n_bytes;
    } else {
      flush();
      out.push_back(std::move(p));
    }
  }
  flush();
  return out;
}

std::string strip(const std::string& piece, const std::string& c, size_t start, size_t stop) {
  size_t b = 0, e = piece.size();
  for (size_t k = 0; k < start && piece.compare(b, c.size(), c) == 0 && b < e; ++k) b += c.size();
  for (size_t k = 0; k < stop && e >= b + c.size() && piece.compare(e - c.size(), c.size(), c) == 0; ++k) e -= c.size();
  return piece.substr(b, e - b);
}

}  // namespace

std::string Decoder::apply(std::vector<std::string> pieces) const {
  if (steps.empty()) {
    std::string out;
    for (size_t i = 0; i < pieces.size(); ++i) out += (i ? " " : "") + pieces[i];
    return out;
  }
  for (const Step& step : steps) {
    switch (step.kind) {
      case Step::Replace:
        for (std::string& p : pieces) p = replace_all(p, step.pattern, step.content);
        break;
      case Step::ByteFallback: pieces = byte_fallback(std::move(pieces)); break;
      case Step::Fuse: {
        std::string all;
        for (const std::string& p : pieces) all += p;
        pieces.assign(1, std::move(all));
        break;
      }
      case Step::Strip:
        for (std::string& p : pieces) p = strip(p, step.content, step.start, step.stop);
        break;
    }
  }
  std::string out;
  for (const std::string& p : pieces) out += p;
  return out;
}

}  // namespace gq::hf
