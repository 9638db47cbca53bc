#include "export/gguf_vocab_spm.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "io/error.h"

namespace gq {

namespace {

// A protobuf wire-format reader over one message's bytes: just what ModelProto needs.
class WireReader {
 public:
  WireReader(const uint8_t* p, size_t n, const std::string& what) : p_(p), end_(p + n), what_(what) {}
  bool done() const { return p_ == end_; }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) fail("truncated varint");
      const uint8_t b = *p_++;
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("varint longer than 10 bytes");
  }
  // Field number and wire type of the next field.
  void tag(uint32_t& field, uint32_t& wire) {
    const uint64_t t = varint();
    field = uint32_t(t >> 3), wire = uint32_t(t & 7);
    if (field == 0) fail("field number 0");
  }
  std::pair<const uint8_t*, size_t> bytes() {
    const uint64_t n = varint();
    if (n > uint64_t(end_ - p_)) fail("length-delimited field runs past the end");
    const uint8_t* b = p_;
    p_ += n;
    return {b, size_t(n)};
  }
  uint32_t fixed32() {
    if (end_ - p_ < 4) fail("truncated fixed32");
    uint32_t v;
    std::memcpy(&v, p_, 4);  // little-endian on every platform this builds for
    p_ += 4;
    return v;
  }
  void skip(uint32_t wire) {
    switch (wire) {
      case 0: varint(); return;
      case 1:
        if (end_ - p_ < 8) fail("truncated fixed64");
        p_ += 8;
        return;
      case 2: bytes(); return;
      case 5: fixed32(); return;
      default: fail("unsupported wire type " + std::to_string(wire));
    }
  }
  void expect(uint32_t wire, uint32_t want, const char* field) {
    if (wire != want) fail(std::string(field) + ": wire type " + std::to_string(wire) + ", expected " + std::to_string(want));
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw FormatError(what_ + ": not a SentencePiece model (" + why + ")");
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  std::string what_;
};

std::string str(const std::pair<const uint8_t*, size_t>& b) { return std::string(reinterpret_cast<const char*>(b.first), b.second); }
float f32(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

SpmModelProto::Piece parse_piece(const std::pair<const uint8_t*, size_t>& b, const std::string& what) {
  WireReader r(b.first, b.second, what);
  SpmModelProto::Piece p;
  while (!r.done()) {
    uint32_t f, w;
    r.tag(f, w);
    if (f == 1) r.expect(w, 2, "piece"), p.piece = str(r.bytes());
    else if (f == 2) r.expect(w, 5, "score"), p.score = f32(r.fixed32());
    else if (f == 3) r.expect(w, 0, "type"), p.type = int32_t(r.varint());
    else r.skip(w);
  }
  return p;
}

void parse_trainer(const std::pair<const uint8_t*, size_t>& b, const std::string& what, SpmModelProto& m) {
  WireReader r(b.first, b.second, what);
  while (!r.done()) {
    uint32_t f, w;
    r.tag(f, w);
    auto i32 = [&](const char* name) { return r.expect(w, 0, name), int32_t(r.varint()); };  // -1 arrives as 2^64-1
    if (f == 3) m.model_type = i32("model_type");
    else if (f == 24) m.treat_whitespace_as_suffix = i32("treat_whitespace_as_suffix") != 0;
    else if (f == 35) m.byte_fallback = i32("byte_fallback") != 0;
    else if (f == 40) m.unk_id = i32("unk_id");
    else if (f == 41) m.bos_id = i32("bos_id");
    else if (f == 42) m.eos_id = i32("eos_id");
    else if (f == 43) m.pad_id = i32("pad_id");
    else r.skip(w);
  }
}

void parse_normalizer(const std::pair<const uint8_t*, size_t>& b, const std::string& what, SpmModelProto& m) {
  WireReader r(b.first, b.second, what);
  while (!r.done()) {
    uint32_t f, w;
    r.tag(f, w);
    if (f == 1) r.expect(w, 2, "name"), m.normalizer = str(r.bytes());
    else if (f == 3) r.expect(w, 0, "add_dummy_prefix"), m.add_dummy_prefix = r.varint() != 0;
    else if (f == 4) r.expect(w, 0, "remove_extra_whitespaces"), m.remove_extra_whitespaces = r.varint() != 0;
    else if (f == 5) r.expect(w, 0, "escape_whitespaces"), m.escape_whitespaces = r.varint() != 0;
    else if (f == 6) r.expect(w, 2, "normalization_rule_tsv"), m.custom_rules = r.bytes().second != 0;
    else r.skip(w);
  }
}

}  // namespace

SpmModelProto parse_spm_model(const std::string& bytes, const std::string& source) {
  SpmModelProto m;
  WireReader r(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), source);
  bool trainer = false;
  while (!r.done()) {
    uint32_t f, w;
    r.tag(f, w);
    if (f == 1) r.expect(w, 2, "pieces"), m.pieces.push_back(parse_piece(r.bytes(), source));
    else if (f == 2) r.expect(w, 2, "trainer_spec"), parse_trainer(r.bytes(), source, m), trainer = true;
    else if (f == 3) r.expect(w, 2, "normalizer_spec"), parse_normalizer(r.bytes(), source, m);
    else r.skip(w);
  }
  if (m.pieces.empty()) r.fail("no pieces");
  if (!trainer) r.fail("no trainer_spec");
  return m;
}

SpmModelProto read_spm_model(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw FormatError(path + ": cannot open");
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse_spm_model(ss.str(), path);
}

GgufVocab spm_vocab(const SpmModelProto& m, const std::string& src, const Gemma4Config& cfg) {
  static const char* kTypeName[] = {"?", "Unigram", "BPE", "Word", "Char"};
  if (m.model_type != SpmModelProto::kBpe)
    throw FormatError(src + ": a SentencePiece " +
                      (m.model_type >= 1 && m.model_type <= 4 ? kTypeName[m.model_type] : "unknown-type") +
                      " model: llama.cpp's SentencePiece vocabulary ('llama') merges pairs by piece score, "
                      "which reproduces BPE models only");
  if (!m.byte_fallback)
    throw FormatError(src + ": a SentencePiece model without byte_fallback: llama.cpp's 'llama' vocabulary has no "
                      "<unk> path (it needs the <0xXX> byte pieces)");
  if (m.treat_whitespace_as_suffix || !m.escape_whitespaces)
    throw FormatError(src + ": treat_whitespace_as_suffix / escape_whitespaces=false: llama.cpp's 'llama' "
                      "vocabulary always escapes spaces to U+2581 and prefixes them");
  const int64_t n = int64_t(m.pieces.size());
  if (n > cfg.vocab_size)
    throw FormatError(src + ": " + std::to_string(n) + " pieces, but the model's vocab_size is " + std::to_string(cfg.vocab_size));

  GgufVocab v;
  v.source = src;
  v.model = "llama";
  v.add_space_prefix = m.add_dummy_prefix;
  int n_bytes = 0;
  for (int64_t id = 0; id < n; ++id) {
    const SpmModelProto::Piece& p = m.pieces[size_t(id)];
    if (p.type < kTokNormal || p.type > kTokByte)
      throw FormatError(src + ": piece " + std::to_string(id) + " ('" + p.piece + "') has unknown type " + std::to_string(p.type));
    n_bytes += p.type == kTokByte;
    v.tokens.push_back(p.piece);
    v.scores.push_back(p.score);
    v.types.push_back(p.type);
  }
  if (n_bytes != 256)
    throw FormatError(src + ": byte_fallback is set but there are " + std::to_string(n_bytes) + " byte pieces, not 256");
  if (n < cfg.vocab_size) {
    v.warnings.push_back(src + ": " + std::to_string(n) + " pieces for vocab_size " + std::to_string(cfg.vocab_size) +
                         ": padded with [PAD<id>] tokens (as llama.cpp's converter does)");
    for (int64_t id = n; id < cfg.vocab_size; ++id) {
      v.tokens.push_back("[PAD" + std::to_string(id) + "]");
      v.scores.push_back(-1000.0f);
      v.types.push_back(kTokUnused);
    }
  }
  v.bos = m.bos_id, v.eos = m.eos_id, v.unk = m.unk_id, v.pad = m.pad_id;
  auto check = [&](const char* what, int64_t tok, int64_t model) {
    if (tok >= 0 && model >= 0 && tok != model)
      v.warnings.push_back(src + ": " + what + " id " + std::to_string(tok) + " differs from config.json's " +
                           std::to_string(model) + " (the GGUF uses the tokenizer's)");
  };
  check("bos", v.bos, cfg.bos_token_id);
  check("eos", v.eos, cfg.eos_token_id);
  check("pad", v.pad, cfg.pad_token_id);

  const bool normalizes = m.custom_rules || (m.normalizer != "identity" && !m.normalizer.empty()) || m.remove_extra_whitespaces;
  if (normalizes) {
    std::string what = m.custom_rules ? "custom rules" : "'" + m.normalizer + "'";
    if (m.remove_extra_whitespaces) what += ", remove_extra_whitespaces";
    v.warnings.push_back(src + ": llama.cpp does not apply SentencePiece's normalizer (" + what +
                         "): its ids equal the tokenizer's for text the normalizer leaves unchanged (no tab or "
                         "newline, no leading, trailing or repeated space, NFKC-stable characters); normalize other "
                         "text first");
  }
  return v;
}

GgufVocab load_spm_vocab(const std::string& model_path, const Gemma4Config& cfg) {
  return spm_vocab(read_spm_model(model_path), model_path, cfg);
}

}  // namespace gq
