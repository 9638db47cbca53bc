// Writes the generated seed corpora (a few KB each) with the project's own writers, so every seed
// is a file the readers accept and the fuzzer starts from the valid side of each format:
//   make_seeds OUT   ->  OUT/{safetensors,sharded_index,gguf,calibration,tokenizer,corpus}/...
// scripts/fuzz.sh copies the project's own JSON files (config.json, recipes) beside them.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "formats/native_format.h"
#include "formats/safetensors.h"
#include "io/error.h"
#include "recipes/calibration.h"
#include "tests/text/small_gemma_tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void write(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
  if (!out) throw gq::FormatError(p.string() + ": cannot write");
}

void safetensors_seeds(const fs::path& dir) {
  const std::vector<float> f32 = {0.5f, -1.f, 2.f, 3.25f, 0.f, -0.f};
  const std::vector<uint16_t> half = {0x3c00, 0xbc00, 0x4000, 0x7c00};  // f16 1, -1, 2, inf
  const std::vector<uint16_t> bf16 = {0x3f80, 0xbf80};
  const std::vector<int8_t> i8 = {-128, 0, 127, 1};
  gq::write_safetensors((dir / "mixed.safetensors").string(),
                        {{"model.embed_tokens.weight", gq::DType::F32, {2, 3}, f32.data(), f32.size() * 4},
                         {"model.norm.weight", gq::DType::F16, {4}, half.data(), half.size() * 2},
                         {"model.layers.0.input_layernorm.weight", gq::DType::BF16, {2}, bf16.data(), bf16.size() * 2},
                         {"scales", gq::DType::I8, {2, 2}, i8.data(), i8.size()}},
                        {{"format", "pt"}, {"gemma_qat", "seed"}});
  gq::write_safetensors((dir / "empty.safetensors").string(), {});
  gq::write_safetensors((dir / "scalar.safetensors").string(), {{"x", gq::DType::F32, {}, f32.data(), 4}});
}

// The shards sharded_index_fuzz.cpp writes; these indexes name them.
void sharded_index_seeds(const fs::path& dir) {
  json index = {{"metadata", {{"total_size", 20}}},
                {"weight_map",
                 {{"model.embed_tokens.weight", "model-00001-of-00002.safetensors"},
                  {"model.norm.weight", "model-00002-of-00002.safetensors"}}}};
  write(dir / "index.json", index.dump(2));
  index["weight_map"].erase("model.norm.weight");
  write(dir / "partial.json", index.dump());
}

void gguf_seeds(const fs::path& dir) {
  gq::GgufWriter w((dir / "small.gguf").string());
  w.add("general.architecture", gq::GgufValue::str("gemma4"));
  w.add("general.alignment", gq::GgufValue::u32(32));
  w.add("gemma4.block_count", gq::GgufValue::u32(1));
  w.add("gemma4.rope.freq_base", gq::GgufValue::f32(10000.f));
  w.add("gemma4.attention.sliding_window_pattern", gq::GgufValue::bool_array({true, false}));
  w.add("tokenizer.ggml.tokens", gq::GgufValue::str_array({"<pad>", "<eos>", "<bos>", "a"}));
  w.add("tokenizer.ggml.scores", gq::GgufValue::f32_array({0.f, 0.f, 0.f, -1.f}));
  w.add("gemma4.context_length", gq::GgufValue::u64(2048));
  w.add("gemma4.attention.layer_norm_rms_epsilon", gq::GgufValue::f64(1e-6));
  w.add("general.file_type", gq::GgufValue::i32(2));
  w.add_tensor("token_embd.weight", gq::GgmlType::Q4_0, {32, 2});
  w.add_tensor("output_norm.weight", gq::GgmlType::F32, {4});
  w.add_tensor("blk.0.attn_q.weight", gq::GgmlType::Q8_0, {32, 1});
  std::vector<uint8_t> bytes(size_t(w.file_size() - w.data_start()), 0);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = uint8_t(i * 37);
  for (const auto& t : w.tensors())  // ggml scales are f16: keep them finite (1.0)
    if (t.type != gq::GgmlType::F32) bytes[t.offset] = 0x00, bytes[t.offset + 1] = 0x3c;
  // Only the tensors' own bytes are written; the writer pads between them.
  for (const auto& t : w.tensors()) w.write(bytes.data() + t.offset, t.nbytes);
  w.finish();
  gq::GgufWriter e((dir / "empty.gguf").string());
  e.add("general.architecture", gq::GgufValue::str("gemma4"));
  e.finish();
}

void calibration_seeds(const fs::path& dir) {
  gq::Calibration c;
  c.recipe = "w8a8-static";
  c.observer = "minmax";
  c.activations["layers.0.self_attn.q_proj"] = {"int8_asym", -3.1f, 4.2f, 0.0286f, -19};
  c.activations["lm_head"] = {"int8", -2.f, 2.f, 2.f / 127, 0};
  c.output_activations["layers.0.mlp.down_proj"] = {"int8", -1.f, 1.f, 1.f / 127, 0};
  c.kv_cache["layers.0.self_attn"] = {-1.f, 1.f, -2.f, 2.f};
  c.save((dir / "calibration.json").string());
}

// The tokenizer tests' small Gemma-shaped tokenizer.json (tests/text/small_gemma_tokenizer.h): special
// tokens, byte fallback, a Replace normalizer, a Split pre-tokenizer, BOS post-processing.
void tokenizer_seeds(const fs::path& dir) { write(dir / "tokenizer.json", gq::test::small_gemma_like().dump(1)); }

// corpus_fuzz.cpp: the first byte picks the file kind (0 text, 1 .jsonl, 2 .ids).
void corpus_seeds(const fs::path& dir) {
  write(dir / "text", std::string(1, '\0') + "Hello world.\r\nSecond line \xE9 Latin-1.\n\nA new paragraph.\n");
  write(dir / "jsonl", std::string(1, '\1') + "{\"text\": \"first document\"}\n{\"text\": \"caf\\u00e9\", \"id\": 2}\n\n");
  write(dir / "ids", std::string(1, '\2') + "2 10 11 12\n2,5,6\n");
}

// A native file with every encoding and both sections, and one with no tensors.
void native_seeds(const fs::path& dir) {
  using namespace gq::native;
  Metadata m;
  m.config_json = "{\"model_type\": \"gemma4_text\"}";
  m.recipe = "seed";
  m.float_dtype = gq::DType::BF16;
  m.kv_cache = gq::quant::parse_kv_scheme("kv_int8");
  m.tokenizer_json = "{}";
  m.activations["a.q_proj"].input = ActivationQuant{gq::quant::parse_activation_scheme("int8_sym@bf16"), {0.125f, 0}};
  m.activations["a.q_proj"].output = ActivationQuant{gq::quant::parse_activation_scheme("int8_asym"), {0.5f, 3}};
  auto q = [](const std::string& name, std::vector<int64_t> shape, const std::string& scheme, Section s) {
    TensorDesc d;
    d.name = name, d.module = "a", d.shape = std::move(shape), d.section = s;
    d.scheme = gq::quant::parse_weight_scheme(scheme);
    d.encoding = encoding_of(d.scheme);
    return d;
  };
  TensorDesc f;
  f.name = "norm.weight", f.shape = {4}, f.dtype = gq::DType::F32;
  std::vector<TensorDesc> t = {f, q("a.q_proj.weight", {2, 32}, "q4_0", Section::Main), q("a.k.weight", {2, 32}, "q8_0", Section::Main),
                               q("a.v.weight", {2, 8}, "int4_channel@bf16", Section::Main),
                               q("a.o.weight", {2, 64}, "int4_g32_asym", Section::Main),
                               q("embed_tokens_per_layer.weight", {3, 8}, "int2_channel@f16", Section::PerLayerEmbedding)};
  NativeWriter w((dir / "small.gqn").string(), m, t);
  for (const TensorDesc& d : w.tensors()) {
    const BlobSizes b = blob_sizes(d, d.name);
    for (const auto& [part, n] : {std::pair<Part, uint64_t>{Part::Data, b.data}, {Part::Scales, b.scales}, {Part::ZeroPoints, b.zero_points}}) {
      // Small valid-looking values: fp16 / bf16 scales of 1.0 are 0x3C00 / 0x3F80; levels and ggml codes 0x11.
      if (n == 0) continue;
      std::vector<uint8_t> v(size_t(n), part == Part::ZeroPoints ? 0 : 0x11);
      if (part == Part::Scales)
        for (size_t i = 0; i + 1 < v.size(); i += 2) v[i] = 0, v[i + 1] = 0x3F;
      w.write(d.name, part, v.data(), v.size());
    }
  }
  w.finish();
  NativeWriter e((dir / "empty.gqn").string(), m, {});
  e.finish();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds OUT\n";
    return 2;
  }
  const fs::path out = argv[1];
  try {
    for (const auto& [name, make] : std::vector<std::pair<std::string, void (*)(const fs::path&)>>{
             {"safetensors", safetensors_seeds}, {"sharded_index", sharded_index_seeds}, {"gguf", gguf_seeds}, {"native", native_seeds},
             {"calibration", calibration_seeds}, {"tokenizer", tokenizer_seeds}, {"corpus", corpus_seeds}}) {
      fs::create_directories(out / name);
      make(out / name);
    }
  } catch (const gq::FormatError& e) {
    std::cerr << "make_seeds: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
