// The gemma4 GGUF exporter on the tiny fixtures, read back with the strict GGUF reader: every key
// with its exact type, tensor names / ggml shapes / types, data equal to the source (floats) or to
// the codecs' bytes (RTN and learned scales), recipes and their refusals, tokenizers, errors.
#include "export/gemma4_gguf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "export/gguf_vocab.h"
#include "io/error.h"
#include "io/half.h"
#include "quant/q4_0.h"
#include "quant/q8_0.h"
#include "formats/safetensors.h"
#include "tests/common/test_util.h"

namespace gq {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using test::fixture;
using test::read_file;
using test::TempDir;
using test::write_file;

GgufExportOptions quiet(GgufExportOptions o = {}) {
  o.on_warning = [](const std::string&) {};
  o.threads = 2;
  return o;
}

GgufFile export_and_open(const std::string& model, const std::string& out, GgufExportOptions o) {
  export_gemma4_gguf(model, out, quiet(std::move(o)));
  return GgufFile::open(out);
}

GgufExportOptions with_type(GgmlType t) {
  GgufExportOptions o;
  o.type = t;
  return o;
}

// A model folder d/name with the fixture's config.json, `edit`ed.
fs::path model_dir(const TempDir& d, const std::string& name, const std::string& fix,
                   const std::function<void(std::string&)>& edit) {
  const fs::path dir = d.path() / name;
  fs::create_directories(dir);
  std::string cfg = read_file(fixture(fix) + "/config.json");
  edit(cfg);
  write_file((dir / "config.json").string(), cfg);
  return dir;
}

// A model folder whose config.json is `edit`ed and whose weights link to the fixture's.
std::string variant(const TempDir& d, const std::string& fix, const std::function<void(std::string&)>& edit) {
  const fs::path dir = model_dir(d, "model", fix, edit);
  fs::create_symlink(fs::absolute(fixture(fix) + "/model.safetensors"), dir / "model.safetensors");
  return dir.string();
}

// dir/model.safetensors: the fixture's tensors as F32, each `edit`ed, then `extra` ones.
void write_weights(const fs::path& dir, const std::string& fix,
                   const std::function<void(const std::string&, std::vector<float>&)>& edit,
                   const std::vector<TensorToWrite>& extra = {}) {
  const Checkpoint ck = Checkpoint::open(fixture(fix));
  std::vector<std::vector<float>> keep;
  keep.reserve(ck.names().size());
  std::vector<TensorToWrite> ts;
  for (const std::string& n : ck.names()) {
    keep.push_back(ck.tensor(n).to_f32());
    edit(n, keep.back());
    ts.push_back({n, DType::F32, ck.tensor(n).shape, keep.back().data(), keep.back().size() * 4});
  }
  ts.insert(ts.end(), extra.begin(), extra.end());
  write_safetensors((dir / "model.safetensors").string(), ts);
}

void replace(std::string& s, const std::string& from, const std::string& to) {
  const size_t p = s.find(from);
  ASSERT_NE(p, std::string::npos) << from;
  s.replace(p, from.size(), to);
}

std::vector<float> f32_of(const GgufFile& f, const std::string& name) {
  const GgufTensorInfo& t = f.tensor(name);
  EXPECT_EQ(t.type, GgmlType::F32) << name;
  std::vector<float> v(size_t(t.numel()));
  std::memcpy(v.data(), f.tensor_data(t), v.size() * 4);
  return v;
}

// Each key holds that UINT32 (get_u32 checks the type too).
void expect_u32_keys(const GgufFile& f, const std::vector<std::pair<const char*, uint32_t>>& keys) {
  for (const auto& [key, value] : keys) EXPECT_EQ(f.get_u32(key), value) << key;
}

// ---- metadata ----

TEST(Gemma4Gguf, DensePleKeysHaveLlamaCppTypes) {
  TempDir d;
  const GgufFile f = export_and_open(fixture("dense_ple"), d.file("m.gguf"), with_type(GgmlType::F32));
  EXPECT_EQ(f.get_str("general.architecture"), "gemma4");
  EXPECT_EQ(f.get_str("general.name"), "dense_ple");
  expect_u32_keys(f, {{"general.file_type", 0}, {"general.quantization_version", 2}, {"gemma4.context_length", 1024},
                      {"gemma4.embedding_length", 128}, {"gemma4.block_count", 6}, {"gemma4.attention.head_count", 2},
                      {"gemma4.attention.head_count_kv", 1}, {"gemma4.attention.key_length", 128},
                      {"gemma4.attention.value_length", 128}, {"gemma4.attention.key_length_swa", 64},
                      {"gemma4.attention.value_length_swa", 64}, {"gemma4.rope.dimension_count", 128},
                      {"gemma4.rope.dimension_count_swa", 64}, {"gemma4.attention.sliding_window", 8},
                      {"gemma4.attention.shared_kv_layers", 3}, {"gemma4.embedding_length_per_layer_input", 32}});
  EXPECT_EQ(f.get("gemma4.feed_forward_length").as_i32_array(), (std::vector<int32_t>{256, 256, 256, 512, 512, 512}));
  EXPECT_EQ(f.get_f32("gemma4.rope.freq_base"), 1e6f);
  EXPECT_EQ(f.get_f32("gemma4.rope.freq_base_swa"), 1e4f);
  EXPECT_EQ(f.get_f32("gemma4.attention.layer_norm_rms_epsilon"), 1e-6f);
  EXPECT_EQ(f.get("gemma4.attention.sliding_window_pattern").as_bool_array(),
            (std::vector<bool>{true, true, false, true, true, false}));
  EXPECT_EQ(f.get_f32("gemma4.final_logit_softcapping"), 30.0f);
  EXPECT_EQ(f.find("gemma4.expert_count"), nullptr);
  // tokenizer (synthesized: no tokenizer.json in the fixture)
  EXPECT_EQ(f.get_str("tokenizer.ggml.model"), "gemma4");
  EXPECT_EQ(f.get("tokenizer.ggml.tokens").as_str_array().size(), 512u);
  EXPECT_EQ(f.get("tokenizer.ggml.scores").as_f32_array(), std::vector<float>(512, -1000.0f));
  EXPECT_EQ(f.get("tokenizer.ggml.token_type").as_i32_array().size(), 512u);
  EXPECT_FALSE(f.get("tokenizer.ggml.merges").as_str_array().empty());
  expect_u32_keys(f, {{"tokenizer.ggml.bos_token_id", 2}, {"tokenizer.ggml.eos_token_id", 1},
                      {"tokenizer.ggml.unknown_token_id", 3}, {"tokenizer.ggml.padding_token_id", 0}});
  EXPECT_TRUE(f.get_bool("tokenizer.ggml.add_bos_token"));
  EXPECT_FALSE(f.get_bool("tokenizer.ggml.add_space_prefix"));
  EXPECT_EQ(f.find("tokenizer.ggml.pre"), nullptr);
}

TEST(Gemma4Gguf, MoeKeqvKeysAndTensors) {
  TempDir d;
  const GgufFile f = export_and_open(fixture("moe_keqv"), d.file("m.gguf"), with_type(GgmlType::Q4_0));
  EXPECT_EQ(f.get("gemma4.attention.head_count_kv").as_i32_array(), (std::vector<int32_t>{2, 1, 2, 1}));
  expect_u32_keys(f, {{"gemma4.feed_forward_length", 128}, {"gemma4.expert_count", 8}, {"gemma4.expert_used_count", 2},
                      {"gemma4.expert_feed_forward_length", 64}, {"gemma4.embedding_length_per_layer_input", 0},
                      {"general.file_type", 2}});
  EXPECT_EQ(f.tensors().size(), 89u);  // 3 + 2 x 22 + 2 x 21 (no v on K=V full layers)
  EXPECT_EQ(f.find_tensor("blk.1.attn_v.weight"), nullptr);
  EXPECT_NE(f.find_tensor("blk.0.attn_v.weight"), nullptr);
  EXPECT_EQ(f.tensor("blk.0.ffn_gate_up_exps.weight").ne, (std::vector<int64_t>{128, 128, 8}));
  EXPECT_EQ(f.tensor("blk.0.ffn_down_exps.weight").ne, (std::vector<int64_t>{64, 128, 8}));
  EXPECT_EQ(f.tensor("blk.0.ffn_gate_up_exps.weight").type, GgmlType::Q4_0);
  EXPECT_EQ(f.tensor("blk.0.ffn_gate_inp.weight").type, GgmlType::F32);  // router: always F32
  EXPECT_EQ(f.tensor("blk.0.ffn_gate_inp.scale").type, GgmlType::F32);
  EXPECT_EQ(f.tensor("blk.0.ffn_down_exps.scale").ne, (std::vector<int64_t>{8}));
  EXPECT_EQ(f.tensor("blk.0.layer_output_scale.weight").ne, (std::vector<int64_t>{1}));
  EXPECT_EQ(f.find_tensor("output.weight"), nullptr);  // tied
}

TEST(Gemma4Gguf, NoSoftcapIsWrittenAsZero) {
  TempDir d;
  const std::string m = variant(d, "dense_keqv", [](std::string& c) {
    replace(c, "\"final_logit_softcapping\": 30.0", "\"final_logit_softcapping\": null");
  });
  const GgufFile f = export_and_open(m, d.file("m.gguf"), with_type(GgmlType::F32));
  EXPECT_EQ(f.get_f32("gemma4.final_logit_softcapping"), 0.0f);  // absent would mean 30 in llama.cpp
}

// ---- tensors ----

TEST(Gemma4Gguf, F32TensorsAreTheCheckpointUnchanged) {
  TempDir d;
  const GgufFile f = export_and_open(fixture("dense_ple"), d.file("m.gguf"), with_type(GgmlType::F32));
  const Checkpoint ck = Checkpoint::open(fixture("dense_ple"));
  EXPECT_EQ(f.tensors().size(), 99u);  // 6 + 6 x 17, minus the 9 k/v tensors of the 3 KV-shared layers
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"per_layer_token_embd.weight", "model.embed_tokens_per_layer.weight"},
      {"per_layer_model_proj.weight", "model.per_layer_model_projection.weight"},
      {"output_norm.weight", "model.norm.weight"},  // no +1: Gemma 4 norms are stored as is
      {"blk.2.attn_q.weight", "model.layers.2.self_attn.q_proj.weight"},
      {"blk.2.attn_k_norm.weight", "model.layers.2.self_attn.k_norm.weight"},
      {"blk.4.ffn_down.weight", "model.layers.4.mlp.down_proj.weight"},
      {"blk.4.layer_output_scale.weight", "model.layers.4.layer_scalar"},
      {"blk.5.inp_gate.weight", "model.layers.5.per_layer_input_gate.weight"},
      {"blk.5.proj.weight", "model.layers.5.per_layer_projection.weight"},
      {"blk.5.post_norm.weight", "model.layers.5.post_per_layer_input_norm.weight"},
  };
  for (const auto& [g, h] : pairs) {
    const TensorView& src = ck.tensor(h);
    const GgufTensorInfo& t = f.tensor(g);
    EXPECT_EQ(t.ne, std::vector<int64_t>(src.shape.rbegin(), src.shape.rend())) << g;
    EXPECT_EQ(f32_of(f, g), src.to_f32()) << g;
  }
  EXPECT_EQ(f.find_tensor("blk.3.attn_k.weight"), nullptr);  // KV-shared layer
  const std::vector<float> rf = f32_of(f, "rope_freqs.weight");
  ASSERT_EQ(rf.size(), 64u);  // global head dim 128 / 2
  for (size_t j = 0; j < rf.size(); ++j) EXPECT_EQ(rf[j], j < 16 ? 1.0f : 1e30f) << j;  // 0.25 x 128 / 2 rotate
}

TEST(Gemma4Gguf, HalfTypesRoundToNearestEven) {
  TempDir d;
  const Checkpoint ck = Checkpoint::open(fixture("dense_keqv"));
  const std::vector<float> src = ck.tensor("model.layers.1.mlp.up_proj.weight").to_f32();
  for (GgmlType t : {GgmlType::F16, GgmlType::BF16}) {
    const GgufFile f = export_and_open(fixture("dense_keqv"), d.file("m.gguf"), with_type(t));
    const GgufTensorInfo& ti = f.tensor("blk.1.ffn_up.weight");
    ASSERT_EQ(ti.type, t);
    std::vector<uint16_t> got(src.size());
    std::memcpy(got.data(), f.tensor_data(ti), got.size() * 2);
    for (size_t i = 0; i < src.size(); ++i)
      ASSERT_EQ(got[i], t == GgmlType::F16 ? f32_to_f16(src[i]) : f32_to_bf16(src[i])) << i;
    EXPECT_EQ(f.tensor("blk.1.ffn_norm.weight").type, GgmlType::F32);
    EXPECT_EQ(f.get_u32("general.file_type"), t == GgmlType::F16 ? 1u : 32u);
  }
}

// RTN bytes through the codec, as ggml's quantize_row_*_ref makes them.
std::vector<uint8_t> codec_bytes(GgmlType type, const std::vector<float>& x, int64_t cols, const float* scales = nullptr) {
  const int64_t rows = int64_t(x.size()) / cols;
  std::vector<int8_t> lv(x.size());
  std::vector<float> d(size_t(rows * cols / 32));
  std::vector<uint8_t> out(size_t(rows) * ggml_row_bytes(type, cols));
  if (type == GgmlType::Q4_0) {
    if (!scales) quant::q4_0_rtn_scales(x.data(), d.data(), rows, cols), quant::q4_0_encode_rtn(x.data(), d.data(), lv.data(), rows, cols);
    else quant::q4_0_encode(x.data(), scales, lv.data(), rows, cols), d.assign(scales, scales + d.size());
    quant::q4_0_pack(lv.data(), d.data(), out.data(), rows, cols);
  } else {
    quant::q8_0_rtn_scales(x.data(), d.data(), rows, cols);
    quant::q8_0_encode_rtn(x.data(), d.data(), lv.data(), rows, cols);
    quant::q8_0_pack(lv.data(), d.data(), out.data(), rows, cols);
  }
  return out;
}

TEST(Gemma4Gguf, QuantizedTensorsAreTheCodecBytes) {
  TempDir d;
  for (GgmlType type : {GgmlType::Q4_0, GgmlType::Q8_0}) {
    for (const char* fix : {"dense_ple", "moe_keqv", "dense_ple_mm_bf16"}) {
      const GgufFile f = export_and_open(fixture(fix), d.file("m.gguf"), with_type(type));
      const Checkpoint ck = Checkpoint::open(fixture(fix));
      const std::string prefix = ck.has("model.embed_tokens.weight") ? "model." : "model.language_model.";
      size_t n = 0;
      for (const GgufTensorInfo& t : f.tensors()) {
        if (t.type != type) continue;
        ++n;
        // GGUF name back to the HF one through the exporter's own plan is circular: map the few used here.
        std::string hf;
        const std::string& g = t.name;
        if (g == "token_embd.weight") hf = "embed_tokens.weight";
        else if (g == "per_layer_token_embd.weight") hf = "embed_tokens_per_layer.weight";
        else {
          const size_t dot = g.find('.', 4);
          const std::string layer = g.substr(4, dot - 4), rest = g.substr(dot + 1);
          const std::map<std::string, std::string> m = {
              {"attn_q.weight", "self_attn.q_proj.weight"}, {"attn_k.weight", "self_attn.k_proj.weight"},
              {"attn_v.weight", "self_attn.v_proj.weight"}, {"attn_output.weight", "self_attn.o_proj.weight"},
              {"ffn_gate.weight", "mlp.gate_proj.weight"},  {"ffn_up.weight", "mlp.up_proj.weight"},
              {"ffn_down.weight", "mlp.down_proj.weight"},  {"inp_gate.weight", "per_layer_input_gate.weight"},
              {"proj.weight", "per_layer_projection.weight"}, {"ffn_gate_up_exps.weight", "experts.gate_up_proj"},
              {"ffn_down_exps.weight", "experts.down_proj"}};
          ASSERT_TRUE(m.count(rest)) << g;
          hf = "layers." + layer + "." + m.at(rest);
        }
        const std::vector<float> x = ck.tensor(prefix + hf).to_f32();
        const std::vector<uint8_t> want = codec_bytes(type, x, t.ne[0]);
        ASSERT_EQ(t.nbytes, want.size()) << g;
        ASSERT_EQ(std::memcmp(f.tensor_data(t), want.data(), want.size()), 0) << fix << ": " << g;
      }
      EXPECT_GT(n, 30u) << fix;
      EXPECT_EQ(f.tensor("output_norm.weight").type, GgmlType::F32);
      if (f.find_tensor("per_layer_model_proj.weight")) {
        EXPECT_EQ(f.tensor("per_layer_model_proj.weight").type, GgmlType::F16);
      }
    }
  }
}

// The file does not depend on how the rows are cut: many small chunks on two threads (each written
// behind the next one's encoding) give the bytes of one chunk per tensor on one thread.
TEST(Gemma4Gguf, ChunksAndThreadsDoNotChangeTheFile) {
  TempDir d;
  for (GgmlType type : {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::F16}) {
    for (const char* fix : {"dense_ple", "dense_ple_mm_bf16"}) {
      GgufExportOptions whole = with_type(type), cut = with_type(type);
      whole.chunk_bytes = size_t(1) << 30;
      cut.chunk_bytes = 4096;  // 8 rows of 128 values a chunk
      GgufExportOptions one = quiet(whole), two = quiet(cut);
      one.threads = 1;
      export_gemma4_gguf(fixture(fix), d.file("one.gguf"), one);
      export_gemma4_gguf(fixture(fix), d.file("two.gguf"), two);
      EXPECT_EQ(read_file(d.file("one.gguf")), read_file(d.file("two.gguf"))) << fix << " " << ggml_type_name(type);
    }
  }
}

TEST(Gemma4Gguf, LearnedScalesGiveTheTrainedCodes) {
  TempDir d;
  const Checkpoint ck = Checkpoint::open(fixture("dense_keqv"));
  const std::vector<float> x = ck.tensor("model.layers.0.mlp.down_proj.weight").to_f32();  // [128, 256]
  const int64_t rows = 128, cols = 256;
  // "Learned" scales: RTN's, shrunk by 10% (so they clip: different codes from RTN).
  std::vector<float> s(size_t(rows * cols / 32));
  quant::q4_0_rtn_scales(x.data(), s.data(), rows, cols);
  for (float& v : s) v *= 0.9f;
  GgufExportOptions o = with_type(GgmlType::Q4_0);
  o.learned_scales = learned_scales_from({{"layers.0.mlp.down_proj", s}});
  const std::string out = d.file("m.gguf");
  const GgufExportResult r = export_gemma4_gguf(fixture("dense_keqv"), out, quiet(o));
  EXPECT_EQ(r.learned_modules, 1u);
  const GgufFile f = GgufFile::open(out);
  const GgufTensorInfo& t = f.tensor("blk.0.ffn_down.weight");
  const std::vector<uint8_t> want = codec_bytes(GgmlType::Q4_0, x, cols, s.data());
  ASSERT_EQ(std::memcmp(f.tensor_data(t), want.data(), want.size()), 0);
  EXPECT_NE(want, codec_bytes(GgmlType::Q4_0, x, cols));  // really not RTN
  // The file decodes to exactly what the fake-quant with these scales simulates.
  std::vector<int8_t> lv(x.size());
  std::vector<float> sc(s.size()), y(x.size()), fq(x.size());
  quant::q4_0_unpack(f.tensor_data(t), lv.data(), sc.data(), rows, cols);
  quant::q4_0_dequantize(lv.data(), sc.data(), y.data(), rows, cols);
  quant::fake_quant_q4_0_with_scales(x.data(), s.data(), fq.data(), rows, cols);
  for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(float_bits(y[i]), float_bits(fq[i])) << i;

  // Wrong count: a clear error naming the module, and no output file.
  o.learned_scales = learned_scales_from({{"layers.0.mlp.down_proj", std::vector<float>(7, 1.0f)}});
  const std::string bad = d.file("bad.gguf");
  EXPECT_NE(error_of([&] { export_gemma4_gguf(fixture("dense_keqv"), bad, quiet(o)); })
                .find("learned scales for 'layers.0.mlp.down_proj' have 7 values, expected 1024"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(bad));
}

// ---- recipes ----

TEST(Gemma4Gguf, RecipeTypesPerModule) {
  TempDir d;
  GgufExportOptions o;
  o.recipe = Recipe::load("q4_0-embed-q8_0");
  const GgufFile f = export_and_open(fixture("dense_ple"), d.file("m.gguf"), o);
  EXPECT_EQ(f.tensor("token_embd.weight").type, GgmlType::Q8_0);
  EXPECT_EQ(f.tensor("per_layer_token_embd.weight").type, GgmlType::Q8_0);
  EXPECT_EQ(f.tensor("blk.0.attn_q.weight").type, GgmlType::Q4_0);
  EXPECT_EQ(f.tensor("per_layer_model_proj.weight").type, GgmlType::F16);  // ignored -> unquantized_dtype
  EXPECT_EQ(f.get_u32("general.file_type"), 2u);                           // mostly Q4_0
  EXPECT_EQ(f.find_tensor("output.weight"), nullptr);
}

TEST(Gemma4Gguf, RecipeUntyingTheHeadWritesOutputWeight) {
  TempDir d;
  write_file(d.file("r.json"), R"({"name": "head8", "weights": [{"targets": ["Linear", "Embedding"], "scheme": "q4_0"},
    {"targets": ["lm_head"], "scheme": "q8_0"}], "unquantized_dtype": "f32"})");
  GgufExportOptions o;
  o.recipe = Recipe::load(d.file("r.json"));
  const GgufFile f = export_and_open(fixture("dense_keqv"), d.file("m.gguf"), o);
  const GgufTensorInfo& out = f.tensor("output.weight");
  EXPECT_EQ(out.type, GgmlType::Q8_0);
  EXPECT_EQ(out.ne, (std::vector<int64_t>{128, 512}));
  const std::vector<float> emb = Checkpoint::open(fixture("dense_keqv")).tensor("model.embed_tokens.weight").to_f32();
  const std::vector<uint8_t> want = codec_bytes(GgmlType::Q8_0, emb, 128);
  EXPECT_EQ(std::memcmp(f.tensor_data(out), want.data(), want.size()), 0);
  EXPECT_EQ(f.tensor("token_embd.weight").type, GgmlType::Q4_0);
}

TEST(Gemma4Gguf, RecipesGgufCannotHoldAreRefusedOrMappedWithWarnings) {
  TempDir d;
  GgufExportOptions o;
  o.recipe = Recipe::load("mobile");
  const std::string out = d.file("m.gguf");
  const std::string msg = error_of([&] { export_gemma4_gguf(fixture("dense_ple"), out, quiet(o)); });
  EXPECT_NE(msg.find("has no GGUF type"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--nearest"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(out));

  o.nearest = true;
  std::vector<std::string> warnings;
  o.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  o.threads = 2;
  export_gemma4_gguf(fixture("dense_ple"), out, o);
  std::string all;
  for (const std::string& w : warnings) all += w + "\n";
  EXPECT_NE(all.find("int4_channel@bf16 -> Q4_0"), std::string::npos) << all;
  EXPECT_NE(all.find("int2_channel@bf16 -> Q2_0"), std::string::npos) << all;     // the untied 2-bit head
  EXPECT_NE(all.find("static input activation scales"), std::string::npos) << all;
  EXPECT_EQ(all.find("-ctk"), std::string::npos) << all;  // mobile has no KV scheme now (vLLM runs none): no KV advice
  const GgufFile f = GgufFile::open(out);
  EXPECT_EQ(f.tensor("output.weight").type, GgmlType::Q2_0);
  EXPECT_EQ(f.tensor("blk.0.attn_q.weight").type, GgmlType::Q4_0);
  EXPECT_EQ(f.tensor("per_layer_model_proj.weight").type, GgmlType::Q8_0);  // int8_channel
}

TEST(Gemma4Gguf, UntiedHeadIsWrittenAsOutputWeight) {
  TempDir d;
  const fs::path dir = model_dir(d, "untied", "dense_keqv", [](std::string& c) {
    replace(c, "\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false");
  });
  std::vector<float> head = Checkpoint::open(fixture("dense_keqv")).tensor("model.embed_tokens.weight").to_f32();
  for (float& v : head) v *= -0.5f;
  write_weights(dir, "dense_keqv", [](const std::string&, std::vector<float>&) {},
                {{"lm_head.weight", DType::F32, {512, 128}, head.data(), head.size() * 4}});
  const GgufFile f = export_and_open(dir.string(), d.file("m.gguf"), with_type(GgmlType::Q4_0));
  const GgufTensorInfo& out = f.tensor("output.weight");
  EXPECT_EQ(out.type, GgmlType::Q4_0);
  const std::vector<uint8_t> want = codec_bytes(GgmlType::Q4_0, head, 128);
  EXPECT_EQ(std::memcmp(f.tensor_data(out), want.data(), want.size()), 0);
}

// ---- configs llama.cpp cannot run as HF does ----

TEST(Gemma4Gguf, KvSharingLayoutLlamaCppCannotExpressIsRefused) {
  TempDir d;
  // Two shared layers: HF's donors are layers 3 (sliding) and 2 (full), llama.cpp's first_shared-2 = 2
  // and first_shared-1 = 3, the other way round.
  const std::string m = variant(d, "dense_ple", [](std::string& c) {
    replace(c, "\"num_kv_shared_layers\": 3", "\"num_kv_shared_layers\": 2");
  });
  const std::string out = d.file("m.gguf");
  const std::string msg = error_of([&] { export_gemma4_gguf(m, out, quiet()); });
  EXPECT_NE(msg.find("cannot be exported to GGUF: KV sharing"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(out));
}

TEST(Gemma4Gguf, NonFiniteWeightNamesTensorAndRow) {
  TempDir d;
  // Q4_0 both with grid recovery (row 5 is in its probe) and without (the fused RTN pass), NaN and
  // -Inf, and a value in the second of two threads' ranges (row 200 of 256).
  const struct {
    GgmlType type;
    bool recovery;
    int64_t row;
    float value;
    const char* says;
  } cases[] = {{GgmlType::F16, true, 5, std::nanf(""), "row 5, element 7"},
               {GgmlType::Q4_0, true, 5, std::nanf(""), "input row 5, element 7 is NaN"},
               {GgmlType::Q4_0, false, 5, -INFINITY, "input row 5, element 7 is -Inf"},
               {GgmlType::Q4_0, false, 200, std::nanf(""), "is NaN"}};
  for (const auto& c : cases) {
    const fs::path dir = model_dir(d, "nan", "dense_keqv", [](std::string&) {});
    write_weights(dir, "dense_keqv", [&](const std::string& n, std::vector<float>& v) {
      if (n == "model.layers.1.mlp.gate_proj.weight") v[size_t(c.row * 128 + 7)] = c.value;
    });
    GgufExportOptions o = with_type(c.type);
    o.grid_recovery = c.recovery;
    const std::string msg = error_of([&] { export_gemma4_gguf(dir.string(), d.file("m.gguf"), quiet(o)); });
    EXPECT_NE(msg.find("tensor 'blk.1.ffn_gate.weight'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.says), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(d.file("m.gguf")));
  }
}

// ---- tokenizers ----

TEST(Gemma4Vocab, SynthesizedFollowsTheTinyTokenizerRules) {
  const GgufVocab v = synthesize_vocab(Gemma4Config::load(fixture("dense_ple")));
  ASSERT_EQ(v.tokens.size(), 512u);
  EXPECT_EQ(v.tokens[0], "<pad>");
  EXPECT_EQ(v.tokens[1], "<eos>");
  EXPECT_EQ(v.tokens[2], "<bos>");
  EXPECT_EQ(v.tokens[3], "<unk>");
  EXPECT_EQ(v.tokens[4], "<mask>");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(v.types[size_t(i)], kTokControl);
  EXPECT_EQ(v.tokens[5], "<0x00>");
  EXPECT_EQ(v.tokens[260], "<0xFF>");
  for (int i = 5; i <= 260; ++i) EXPECT_EQ(v.types[size_t(i)], kTokByte);
  for (int i = 261; i < 512; ++i) EXPECT_EQ(v.types[size_t(i)], kTokNormal);
  const std::set<std::string> all(v.tokens.begin(), v.tokens.end());
  EXPECT_EQ(all.size(), 512u);
  ASSERT_FALSE(v.merges.empty());
  for (const std::string& m : v.merges) {
    const size_t sp = m.find(' ', 1);
    ASSERT_NE(sp, std::string::npos);
    EXPECT_TRUE(all.count(m.substr(0, sp)) && all.count(m.substr(sp + 1)) && all.count(m.substr(0, sp) + m.substr(sp + 1))) << m;
  }
}

TEST(Gemma4Vocab, FromHuggingFaceTokenizerJson) {
  TempDir d;
  const std::string m = variant(d, "dense_keqv", [](std::string&) {});
  nlohmann::json vocab = nlohmann::json::object();
  vocab["<pad>"] = 0, vocab["<eos>"] = 1, vocab["<bos>"] = 2, vocab["<unk>"] = 3;
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    vocab[buf] = 4 + b;
  }
  for (int i = 260; i < 510; ++i) vocab["\xe2\x96\x81t" + std::to_string(i)] = i;
  vocab["\xe2\x96\x81"] = 510;
  nlohmann::json tok = {
      {"model", {{"type", "BPE"}, {"byte_fallback", true}, {"unk_token", "<unk>"}, {"vocab", vocab},
                 {"merges", nlohmann::json::array({nlohmann::json::array({"\xe2\x96\x81", "t260"}), "a b"})}}},
      {"added_tokens", nlohmann::json::array({{{"id", 1}, {"content", "<eos>"}, {"special", true}},
                                              {{"id", 511}, {"content", "<|channel>"}, {"special", true}}})}};
  write_file(m + "/tokenizer.json", tok.dump());
  write_file(m + "/tokenizer_config.json", R"({"bos_token": "<bos>", "eos_token": {"content": "<eos>"}, "pad_token": "<pad>"})");
  write_file(m + "/chat_template.jinja", "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}");
  const GgufFile f = export_and_open(m, d.file("m.gguf"), with_type(GgmlType::F32));
  const std::vector<std::string>& t = f.get("tokenizer.ggml.tokens").as_str_array();
  ASSERT_EQ(t.size(), 512u);
  EXPECT_EQ(t[4], "<0x00>");
  EXPECT_EQ(t[511], "<|channel>");
  const std::vector<int32_t> ty = f.get("tokenizer.ggml.token_type").as_i32_array();
  EXPECT_EQ(ty[1], kTokControl);      // added, special
  EXPECT_EQ(ty[0], kTokNormal);       // in the vocab but not an added special
  EXPECT_EQ(ty[4], kTokByte);
  EXPECT_EQ(ty[511], kTokUserDefined);  // rendered as text, as llama.cpp's converter forces it
  EXPECT_EQ(f.get("tokenizer.ggml.merges").as_str_array(), (std::vector<std::string>{"\xe2\x96\x81 t260", "a b"}));
  EXPECT_EQ(f.get_u32("tokenizer.ggml.eos_token_id"), 1u);
  EXPECT_EQ(f.get_u32("tokenizer.ggml.unknown_token_id"), 3u);
  EXPECT_EQ(f.get_str("tokenizer.chat_template"), "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}");

  write_file(m + "/tokenizer.json", R"({"model": {"type": "Unigram", "vocab": []}})");
  EXPECT_NE(error_of([&] { export_gemma4_gguf(m, d.file("x.gguf"), quiet()); }).find("not a byte-fallback BPE tokenizer"),
            std::string::npos);
}

}  // namespace
}  // namespace gq
