// SentencePiece .model -> llama.cpp "llama" vocabulary (export/gguf_vocab_spm.h): the protobuf
// reader on hand-encoded models and on the project's tiny-e2b tokenizer, the refusals, and the
// exporter picking tokenizer.model up. That llama.cpp then tokenizes as SentencePiece does is
// tests/cli/llamacpp_tokenizer.sh.
#include "export/gguf_vocab_spm.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "export/gemma4_gguf.h"
#include "io/error.h"
#include "tests/common/test_util.h"

namespace gq {
namespace {

namespace fs = std::filesystem;
using test::error_of;
const std::string kData = GQ_TEST_DATA;
const std::string kTinyTokenizer = kData + "/../../examples/models/tiny-e2b/tokenizer.model";
const std::string kTinyConfig = kData + "/../../examples/configs/tiny-e2b.json";
const std::string kSpace = "\xe2\x96\x81";

// ---- a minimal protobuf writer for hand-made models ----
std::string varint(uint64_t v) {
  std::string s;
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    s += char(v ? b | 0x80 : b);
  } while (v);
  return s;
}
std::string field_varint(int f, uint64_t v) { return varint(uint64_t(f) << 3) + varint(v); }
std::string field_bytes(int f, const std::string& b) { return varint(uint64_t(f) << 3 | 2) + varint(b.size()) + b; }
std::string field_float(int f, float x) {
  std::string s = varint(uint64_t(f) << 3 | 5);
  char b[4];
  std::memcpy(b, &x, 4);
  return s + std::string(b, 4);
}

struct ModelSpec {
  int model_type = 2;
  bool byte_fallback = true;
  int n_normal = 100;
  std::string normalizer = "identity";
  bool remove_extra_whitespaces = false;
  int pad_id = 0;  // -1 travels as a 10-byte varint
};

// <pad> <eos> <bos> <unk>, 256 byte pieces, then n_normal pieces "▁p<i>" with scores -i.
std::string make_model(const ModelSpec& s) {
  std::string m;
  auto piece = [&](const std::string& p, float score, int type) {
    std::string b = field_bytes(1, p) + field_float(2, score);
    if (type != 1) b += field_varint(3, uint64_t(type));
    m += field_bytes(1, b);
  };
  piece("<pad>", 0, 3), piece("<eos>", 0, 3), piece("<bos>", 0, 3), piece("<unk>", 0, 2);
  if (s.byte_fallback) {
    char buf[8];
    for (int b = 0; b < 256; ++b) std::snprintf(buf, sizeof buf, "<0x%02X>", b), piece(buf, 0, 6);
  }
  for (int i = 0; i < s.n_normal; ++i) piece(kSpace + "p" + std::to_string(i), -float(i), 1);
  std::string trainer = field_varint(3, uint64_t(s.model_type)) + field_bytes(2, "prefix") + field_varint(35, s.byte_fallback) +
                        field_varint(40, 3) + field_varint(41, 2) + field_varint(42, 1) + field_varint(43, uint64_t(int64_t(s.pad_id)));
  m += field_bytes(2, trainer);
  m += field_bytes(3, field_bytes(1, s.normalizer) + field_bytes(2, std::string("\x01\x02\x03", 3)) + field_varint(3, 1) +
                          field_varint(4, s.remove_extra_whitespaces));
  return m;
}

Gemma4Config config_with_vocab(int64_t v) {
  Gemma4Config c = Gemma4Config::load(kTinyConfig);
  c.vocab_size = v;
  return c;
}

TEST(SpmVocab, ParsesHandMadeModel) {
  const SpmModelProto m = parse_spm_model(make_model({}), "m.model");
  ASSERT_EQ(m.pieces.size(), 4u + 256u + 100u);
  EXPECT_EQ(m.pieces[2].piece, "<bos>");
  EXPECT_EQ(m.pieces[2].type, 3);
  EXPECT_EQ(m.pieces[3].type, 2);
  EXPECT_EQ(m.pieces[4].piece, "<0x00>");
  EXPECT_EQ(m.pieces[4].type, 6);
  EXPECT_EQ(m.pieces[262].piece, kSpace + "p2");
  EXPECT_EQ(m.pieces[262].score, -2.0f);
  EXPECT_EQ(m.pieces[262].type, 1);
  EXPECT_EQ(m.model_type, SpmModelProto::kBpe);
  EXPECT_TRUE(m.byte_fallback);
  EXPECT_EQ(m.unk_id, 3);
  EXPECT_EQ(m.bos_id, 2);
  EXPECT_EQ(m.eos_id, 1);
  EXPECT_EQ(m.pad_id, 0);
  EXPECT_EQ(m.normalizer, "identity");
  EXPECT_TRUE(m.add_dummy_prefix);
  EXPECT_FALSE(m.remove_extra_whitespaces);
  EXPECT_TRUE(m.escape_whitespaces);  // absent: proto2 default
  ModelSpec s;
  s.pad_id = -1;
  EXPECT_EQ(parse_spm_model(make_model(s), "m.model").pad_id, -1);
}

TEST(SpmVocab, RejectsMalformedBytes) {
  const std::string good = make_model({});
  EXPECT_NE(error_of([&] { parse_spm_model(good.substr(0, good.size() - 3), "m.model"); }).find("m.model: not a SentencePiece model"),
            std::string::npos);
  EXPECT_NE(error_of([&] { parse_spm_model("", "m.model"); }).find("no pieces"), std::string::npos);
  EXPECT_NE(error_of([&] { parse_spm_model(std::string("\x0b", 1), "m.model"); }).find("wire type"), std::string::npos);
  EXPECT_NE(error_of([&] { parse_spm_model("{\"model\": 1}", "m.model"); }).find("not a SentencePiece model"), std::string::npos);
}

TEST(SpmVocab, LlamaVocabularyFromHandMadeModel) {
  const GgufVocab v = spm_vocab(parse_spm_model(make_model({}), "m.model"), "m.model", config_with_vocab(360));
  EXPECT_EQ(v.model, "llama");
  EXPECT_TRUE(v.add_space_prefix);
  ASSERT_EQ(v.tokens.size(), 360u);
  EXPECT_EQ(v.tokens[300], kSpace + "p40");
  EXPECT_EQ(v.scores[300], -40.0f);
  EXPECT_EQ(v.types[0], kTokControl);
  EXPECT_EQ(v.types[3], kTokUnknown);
  EXPECT_EQ(v.types[100], kTokByte);
  EXPECT_EQ(v.types[300], kTokNormal);
  EXPECT_TRUE(v.merges.empty());
  EXPECT_EQ(v.bos, 2);
  EXPECT_EQ(v.eos, 1);
  EXPECT_EQ(v.unk, 3);
  EXPECT_EQ(v.pad, 0);
  EXPECT_TRUE(v.warnings.empty());  // identity normalizer, no whitespace removal: nothing llama.cpp lacks

  const auto kv = vocab_metadata(v);
  std::map<std::string, const GgufValue*> by;
  for (const auto& [k, val] : kv) by[k] = &val;
  EXPECT_EQ(by.count("tokenizer.ggml.merges"), 0u);
  ASSERT_TRUE(by.count("tokenizer.ggml.model"));
  EXPECT_EQ(by["tokenizer.ggml.model"]->as_str(), "llama");
  EXPECT_TRUE(by["tokenizer.ggml.add_space_prefix"]->as_bool());
  EXPECT_EQ(by["tokenizer.ggml.scores"]->as_f32_array().size(), 360u);
}

TEST(SpmVocab, PadsWarnsAndRefuses) {
  const SpmModelProto m = parse_spm_model(make_model({}), "m.model");
  const GgufVocab padded = spm_vocab(m, "m.model", config_with_vocab(400));
  ASSERT_EQ(padded.tokens.size(), 400u);
  EXPECT_EQ(padded.tokens[399], "[PAD399]");
  EXPECT_EQ(padded.types[399], kTokUnused);
  ASSERT_EQ(padded.warnings.size(), 1u);
  EXPECT_NE(padded.warnings[0].find("padded"), std::string::npos);

  EXPECT_NE(error_of([&] { spm_vocab(m, "m.model", config_with_vocab(300)); }).find("360 pieces, but the model's vocab_size is 300"),
            std::string::npos);
  ModelSpec uni;
  uni.model_type = 1;
  EXPECT_NE(error_of([&] { spm_vocab(parse_spm_model(make_model(uni), "u"), "u", config_with_vocab(360)); })
                .find("Unigram model"),
            std::string::npos);
  ModelSpec nobytes;
  nobytes.byte_fallback = false;
  EXPECT_NE(error_of([&] { spm_vocab(parse_spm_model(make_model(nobytes), "b"), "b", config_with_vocab(360)); })
                .find("without byte_fallback"),
            std::string::npos);
  ModelSpec nfkc;
  nfkc.normalizer = "nmt_nfkc";
  nfkc.remove_extra_whitespaces = true;
  const GgufVocab w = spm_vocab(parse_spm_model(make_model(nfkc), "n"), "n", config_with_vocab(360));
  ASSERT_EQ(w.warnings.size(), 1u);
  EXPECT_NE(w.warnings[0].find("does not apply SentencePiece's normalizer ('nmt_nfkc', remove_extra_whitespaces)"),
            std::string::npos);
}

TEST(SpmVocab, TinyE2bTokenizer) {
  if (!fs::exists(kTinyTokenizer)) GTEST_SKIP() << kTinyTokenizer << " is missing";
  const SpmModelProto m = read_spm_model(kTinyTokenizer);
  ASSERT_EQ(m.pieces.size(), 4096u);
  EXPECT_EQ(m.model_type, SpmModelProto::kBpe);
  EXPECT_TRUE(m.byte_fallback);
  EXPECT_EQ(m.normalizer, "nmt_nfkc");
  EXPECT_TRUE(m.add_dummy_prefix);
  EXPECT_TRUE(m.remove_extra_whitespaces);
  EXPECT_EQ(m.pad_id, 0);
  EXPECT_EQ(m.eos_id, 1);
  EXPECT_EQ(m.bos_id, 2);
  EXPECT_EQ(m.unk_id, 3);
  const GgufVocab v = load_spm_vocab(kTinyTokenizer, Gemma4Config::load(kTinyConfig));
  ASSERT_EQ(v.tokens.size(), 4096u);
  EXPECT_EQ(v.tokens[0], "<pad>");
  EXPECT_EQ(v.tokens[2], "<bos>");
  EXPECT_EQ(v.tokens[4], "<0x00>");
  EXPECT_EQ(v.tokens[259], "<0xFF>");
  // BPE pieces: merged pieces in merge order, scores strictly decreasing (llama.cpp merges by them).
  for (size_t i = 261; i < 4096; ++i) {
    EXPECT_EQ(v.types[i], kTokNormal) << i;
    EXPECT_LT(v.scores[i], v.scores[i - 1]) << i;
  }
  EXPECT_EQ(v.warnings.size(), 1u);  // the normalizer note
}

TEST(SpmVocab, ExporterUsesTokenizerModelBesideTheCheckpoint) {
  const test::TempDir tmp;
  const fs::path& dir = tmp.path();
  const std::string fix = test::fixture("dense_ple");  // vocab_size 512
  fs::copy_file(fix + "/config.json", dir / "config.json");
  fs::create_symlink(fs::absolute(fix + "/model.safetensors"), dir / "model.safetensors");
  ModelSpec s;
  s.n_normal = 512 - 260;
  std::ofstream(dir / "tokenizer.model", std::ios::binary) << make_model(s);
  GgufExportOptions o;
  o.type = GgmlType::F32;
  o.threads = 1;
  std::vector<std::string> warnings;
  o.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  const GgufExportResult r = export_gemma4_gguf(dir.string(), (dir / "m.gguf").string(), o);
  EXPECT_EQ(r.vocab_source, (dir / "tokenizer.model").string());
  EXPECT_TRUE(warnings.empty());
  const GgufFile f = GgufFile::open((dir / "m.gguf").string());
  EXPECT_EQ(f.get_str("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(f.get("tokenizer.ggml.tokens").as_str_array()[300], kSpace + "p40");
  EXPECT_EQ(f.get("tokenizer.ggml.scores").as_f32_array()[300], -40.0f);
  EXPECT_EQ(f.find("tokenizer.ggml.merges"), nullptr);
  EXPECT_TRUE(f.get_bool("tokenizer.ggml.add_space_prefix"));
  EXPECT_TRUE(f.get_bool("tokenizer.ggml.add_bos_token"));
  EXPECT_EQ(f.get_u32("tokenizer.ggml.bos_token_id"), 2u);
}

}  // namespace
}  // namespace gq
