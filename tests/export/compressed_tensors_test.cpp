// The compressed-tensors exporter, read back by a decoder written here independently of the writer:
// its own int32 unpacking (checked against golden words for the packing order), its own
// dequantization ((level - z) * s, rounded to the scale dtype as a bf16 runtime does), raw
// safetensors headers checked for the contiguity the reference readers demand. Values are compared
// bit for bit with the codecs' fake-quant; config.json's quantization_config field by field.
#include "export/compressed_tensors.h"
#include "export/compressed_tensors_items.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "calibration_fixture.h"
#include "recipes/calibration.h"
#include "io/error.h"
#include "model/gemma4_config.h"
#include "io/half.h"
#include "quant/weight.h"
#include "model/quant_targets.h"
#include "formats/safetensors.h"

namespace gq {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
const std::string kData = GQ_TEST_DATA;
std::string fixture(const std::string& name) { return kData + "/gemma4-tiny/" + name; }

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("ct_test_" + std::to_string(::getpid()) + "_" + std::to_string(n_++))) {
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  static inline int n_ = 0;
  fs::path path_;
};

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

CompressedTensorsExportOptions quiet(CompressedTensorsExportOptions o = {}) {
  o.on_warning = [](const std::string&) {};
  o.threads = 2;
  return o;
}
CompressedTensorsExportOptions with_recipe(const std::string& json_text, CompressedTensorsExportOptions o = {}) {
  o.recipe = Recipe::parse(json_text, "test-recipe.json");
  return quiet(std::move(o));
}

// Nothing may be left behind by a failed export: no output folder, no temporary folder.
void expect_nothing_written(const TempDir& d) {
  for (const auto& e : fs::directory_iterator(d.path())) {
    const std::string n = e.path().filename().string();
    EXPECT_TRUE(n.rfind("out", 0) != 0) << "left behind: " << n;
  }
}

std::string refusal(const std::string& model, const std::string& out, const CompressedTensorsExportOptions& o) {
  try {
    export_compressed_tensors(model, out, o);
  } catch (const FormatError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  }
  ADD_FAILURE() << "no FormatError thrown";
  return "";
}

// ---- an independent reader ------------------------------------------------------------------

int32_t i32_at(const TensorView& t, int64_t i) {
  int32_t v;
  std::memcpy(&v, t.data + 4 * i, 4);
  return v;
}

// Field `k` (bits wide, LSB first) of a word, minus the 2^(bits-1) offset.
int field(int32_t word, int k, int bits) {
  const uint32_t mask = (1u << bits) - 1u;
  return int((uint32_t(word) >> (bits * k)) & mask) - (1 << (bits - 1));
}

struct Decoded {
  int64_t rows = 0, cols = 0, spr = 0;
  std::vector<int> levels, zero_points;  // [rows, cols], [rows, spr]
  std::vector<float> scales;              // [rows, spr], as stored (exact in float32)
  DType scale_dtype = DType::F32;
};

Decoded decode_packed(const Checkpoint& ck, const std::string& m) {
  Decoded d;
  const TensorView& shape = ck.tensor(m + ".weight_shape");
  EXPECT_EQ(shape.dtype, DType::I64);
  EXPECT_EQ(shape.shape, (std::vector<int64_t>{2}));
  int64_t s[2];
  std::memcpy(s, shape.data, 16);
  d.rows = s[0], d.cols = s[1];
  const TensorView& p = ck.tensor(m + ".weight_packed");
  EXPECT_EQ(p.dtype, DType::I32) << m;
  const int64_t words = p.shape.at(1);
  const int bits = int(32 * words / d.cols);
  const int per = 32 / bits;
  EXPECT_EQ(p.shape, (std::vector<int64_t>{d.rows, d.cols * bits / 32})) << m;
  for (int64_t r = 0; r < d.rows; ++r)
    for (int64_t c = 0; c < d.cols; ++c) d.levels.push_back(field(i32_at(p, r * words + c / per), int(c % per), bits));
  const TensorView& sc = ck.tensor(m + ".weight_scale");
  d.scale_dtype = sc.dtype;
  d.spr = sc.shape.at(1);
  EXPECT_EQ(sc.shape.at(0), d.rows);
  d.scales = sc.to_f32();
  if (ck.has(m + ".weight_zero_point")) {
    const TensorView& z = ck.tensor(m + ".weight_zero_point");
    EXPECT_EQ(z.dtype, DType::I32);
    EXPECT_EQ(z.shape, (std::vector<int64_t>{(d.rows * bits + 31) / 32, d.spr})) << m;
    for (int64_t r = 0; r < d.rows; ++r)
      for (int64_t g = 0; g < d.spr; ++g) d.zero_points.push_back(field(i32_at(z, (r / per) * d.spr + g), int(r % per), bits));
  }
  return d;
}

Decoded decode_int8(const Checkpoint& ck, const std::string& m) {
  Decoded d;
  const TensorView& w = ck.tensor(m + ".weight");
  EXPECT_EQ(w.dtype, DType::I8);
  d.rows = w.shape.at(0), d.cols = w.shape.at(1);
  for (int64_t i = 0; i < w.numel(); ++i) d.levels.push_back(int(int8_t(w.data[i])));
  const TensorView& sc = ck.tensor(m + ".weight_scale");
  EXPECT_EQ(sc.shape, (std::vector<int64_t>{d.rows, 1}));
  d.scale_dtype = sc.dtype, d.spr = 1, d.scales = sc.to_f32();
  return d;
}

// What a runtime computing in the scale's dtype gets: (level - z) * s, rounded to that dtype.
std::vector<float> dequant(const Decoded& d) {
  std::vector<float> y(size_t(d.rows * d.cols));
  const int64_t group = d.cols / d.spr;
  for (int64_t r = 0; r < d.rows; ++r)
    for (int64_t c = 0; c < d.cols; ++c) {
      const int64_t g = r * d.spr + c / group;
      const int z = d.zero_points.empty() ? 0 : d.zero_points[size_t(g)];
      float v = float(d.levels[size_t(r * d.cols + c)] - z) * d.scales[size_t(g)];
      if (d.scale_dtype == DType::BF16) v = bf16_to_f32(f32_to_bf16(v));
      if (d.scale_dtype == DType::F16) v = f16_to_f32(f32_to_f16(v));
      y[size_t(r * d.cols + c)] = v;
    }
  return y;
}

void expect_bits_equal(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (float_bits(got[i]) != float_bits(want[i]) && bad++ == 0) first = i;
  EXPECT_EQ(bad, 0u) << what << ": first mismatch at " << first << ": " << got[first] << " vs " << want[first];
}

// Every shard's data block is exactly covered, tensor after tensor: the Rust / Go safetensors
// readers (transformers, vLLM) reject any gap.
std::pair<size_t, uint64_t> expect_contiguous(const fs::path& file) {
  std::ifstream f(file, std::ios::binary);
  uint64_t n = 0;
  f.read(reinterpret_cast<char*>(&n), 8);
  std::string h(n, ' ');
  f.read(h.data(), std::streamsize(n));
  EXPECT_EQ((8 + n) % 8, 0u) << file;
  const json j = json::parse(h);
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "__metadata__") spans.push_back({it.value()["data_offsets"][0], it.value()["data_offsets"][1]});
  std::sort(spans.begin(), spans.end());
  uint64_t at = 0;
  for (const auto& [b, e] : spans) {
    EXPECT_EQ(b, at) << file << ": hole or overlap before offset " << b;
    at = e;
  }
  EXPECT_EQ(8 + n + at, uint64_t(fs::file_size(file))) << file;
  EXPECT_EQ(j["__metadata__"]["format"], "pt");
  return {spans.size(), at};
}

json config_of(const std::string& out) { return json::parse(read_text(out + "/config.json")); }

// ---- fixtures in a temp folder ----------------------------------------------------------------

using Tensors = std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>;

Tensors load_all(const std::string& dir) {
  const Checkpoint ck = Checkpoint::open(dir);
  Tensors t;
  for (const std::string& n : ck.names()) t[n] = {ck.tensor(n).shape, ck.tensor(n).to_f32()};
  return t;
}

void save_all(const std::string& path, const Tensors& t) {
  std::vector<TensorToWrite> w;
  for (const auto& [n, v] : t) w.push_back({n, DType::F32, v.first, v.second.data(), v.second.size() * 4});
  write_safetensors(path, w);
}

// RUN/checkpoint with the fixture's config, `weights`, a recipe.json and quant_params.
std::string make_run(const TempDir& d, const std::string& fix, const Tensors& weights, const std::string& recipe_json,
                     const Tensors& quant_params) {
  const fs::path ck = d.path() / "run" / "checkpoint";
  fs::create_directories(ck);
  fs::copy_file(fixture(fix) + "/config.json", ck / "config.json");
  save_all((ck / "model.safetensors").string(), weights);
  write_text((ck / "recipe.json").string(), recipe_json);
  save_all((ck / "quant_params.safetensors").string(), quant_params);
  return (d.path() / "run").string();
}

std::vector<float> rows_of(const Tensors& t, const std::string& name, int64_t row0, int64_t rows, int64_t cols) {
  const std::vector<float>& v = t.at(name).second;
  return std::vector<float>(v.begin() + row0 * cols, v.begin() + (row0 + rows) * cols);
}

// Source rows of an output module ("model.layers.0.experts.3.up_proj" -> rows of the bank).
struct Source {
  std::string tensor, module;
  int64_t row0, rows, cols;
};
Source source_of(const Tensors& t, const std::string& out_module) {
  const std::string m = out_module.substr(std::string("model.").size());
  const size_t ex = m.find(".experts.");
  if (ex == std::string::npos) {
    const auto& shape = t.at("model." + m + ".weight").first;
    return {"model." + m + ".weight", m, 0, shape[0], shape[1]};
  }
  const std::string layer = m.substr(0, ex), rest = m.substr(ex + 9);
  const int64_t e = std::stoll(rest.substr(0, rest.find('.')));
  const std::string proj = rest.substr(rest.find('.') + 1);
  const std::string bank = proj == "down_proj" ? "down_proj" : "gate_up_proj";
  const auto& shape = t.at("model." + layer + ".experts." + bank).first;
  const int64_t R = shape[1];
  if (proj == "down_proj") return {"model." + layer + ".experts.down_proj", layer + ".experts.down_proj", e * R, R, shape[2]};
  const int64_t half = R / 2;
  return {"model." + layer + ".experts.gate_up_proj", layer + ".experts.gate_up_proj", e * R + (proj == "up_proj" ? half : 0),
          half, shape[2]};
}

// Output modules holding quantized weights, from the written files.
std::vector<std::string> modules_with(const Checkpoint& ck, const std::string& suffix) {
  std::vector<std::string> out;
  for (const std::string& n : ck.names())
    if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(n.substr(0, n.size() - suffix.size()));
  return out;
}

// Every pack-quantized module decodes to the codec's fake-quant of its source rows under `scheme`.
void expect_packed_equals_fake_quant(const std::string& out, const Tensors& src, const quant::WeightScheme& scheme,
                                     size_t expected_modules) {
  const Checkpoint ck = Checkpoint::open(out);
  const std::vector<std::string> mods = modules_with(ck, ".weight_packed");
  EXPECT_EQ(mods.size(), expected_modules);
  for (const std::string& m : mods) {
    const Source s = source_of(src, m);
    const Decoded d = decode_packed(ck, m);
    ASSERT_EQ(d.rows, s.rows) << m;
    ASSERT_EQ(d.cols, s.cols) << m;
    EXPECT_EQ(d.scale_dtype, scheme.scale_dtype) << m;
    const std::vector<float> x = rows_of(src, s.tensor, s.row0, s.rows, s.cols);
    std::vector<float> y(x.size());
    quant::fake_quant_weight(scheme, x.data(), y.data(), s.rows, s.cols);
    expect_bits_equal(dequant(d), y, m);
  }
}

// The written float tensors are the source rounded to `t`.
void expect_floats(const std::string& out, const Tensors& src, DType t) {
  const Checkpoint ck = Checkpoint::open(out);
  size_t n = 0;
  for (const auto& [name, v] : src) {
    if (!ck.has(name)) continue;
    const TensorView& tv = ck.tensor(name);
    EXPECT_EQ(tv.dtype, t) << name;
    EXPECT_EQ(tv.shape, v.first) << name;
    std::vector<float> want = v.second;
    for (float& f : want) f = t == DType::BF16 ? bf16_to_f32(f32_to_bf16(f)) : f;
    expect_bits_equal(tv.to_f32(), want, name);
    ++n;
  }
  EXPECT_GT(n, 10u);
}

std::set<std::string> strings(const json& a) {
  std::set<std::string> s;
  for (const json& e : a) s.insert(e.get<std::string>());
  return s;
}

// ---- golden packing order ------------------------------------------------------------------

TEST(CompressedTensorsDecoder, GoldenWords) {
  // Levels -8..7 at positions 0..15: codes 0..15, first element in the lowest nibble.
  const int32_t w0 = int32_t(0x76543210u), w1 = int32_t(0xFEDCBA98u);
  for (int k = 0; k < 8; ++k) {
    EXPECT_EQ(field(w0, k, 4), k - 8);
    EXPECT_EQ(field(w1, k, 4), k);
  }
  EXPECT_EQ(field(int32_t(0x80FF7F00u), 0, 8), -128);  // 8-bit: +128 offset, 4 per word
  EXPECT_EQ(field(int32_t(0x80FF7F00u), 1, 8), -1);
  EXPECT_EQ(field(int32_t(0x80FF7F00u), 2, 8), 127);
  EXPECT_EQ(field(int32_t(0x80FF7F00u), 3, 8), 0);
}

// A crafted q/k/v with learned scale 1 and levels ((c + r) mod 16) - 8: the written words are the
// golden ones; asymmetric zero points ((r mod 16) - 8) are packed along the output dim.
TEST(CompressedTensors, PackingOrderIsGolden) {
  for (const bool asym : {false, true}) {
    TempDir d;
    Tensors w = load_all(fixture("dense_keqv"));
    Tensors qp;
    const std::string scheme_name = asym ? "int4_g32_asym" : "int4_g32";
    for (const char* p : {"q_proj", "k_proj", "v_proj"}) {
      const std::string m = std::string("layers.0.self_attn.") + p;
      auto& [shape, x] = w.at("model." + m + ".weight");
      const int64_t rows = shape[0], cols = shape[1], g = cols / 32;
      std::vector<float> s(size_t(rows * g), 1.0f), z(size_t(rows * g));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = 0; k < g; ++k) z[size_t(r * g + k)] = asym ? float(r % 16 - 8) : 0.0f;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) x[size_t(r * cols + c)] = float((c + r) % 16 - 8) - z[size_t(r * g + c / 32)];
      qp[m + ".weight.scale"] = {{rows, g}, s};
      if (asym) qp[m + ".weight.zero_point"] = {{rows, g}, z};
    }
    const std::string recipe = R"({"weights": [{"targets": ["re:layers\\.0\\.self_attn\\.[qkv]_proj"], "scheme": ")" +
                               scheme_name + R"("}], "learnable_scales": true})";
    const std::string run = make_run(d, "dense_keqv", w, recipe, qp);
    CompressedTensorsExportOptions o = quiet();
    o.scale_dtype = DType::F32;
    const CompressedTensorsExportResult r = export_compressed_tensors(run, d.file("out"), o);
    EXPECT_TRUE(r.from_run);
    EXPECT_EQ(r.learned_modules, 3u);
    const Checkpoint ck = Checkpoint::open(d.file("out"));
    const TensorView& p = ck.tensor("model.layers.0.self_attn.q_proj.weight_packed");
    EXPECT_EQ(p.shape, (std::vector<int64_t>{128, 16}));
    EXPECT_EQ(i32_at(p, 0), int32_t(0x76543210u));
    EXPECT_EQ(i32_at(p, 1), int32_t(0xFEDCBA98u));
    EXPECT_EQ(i32_at(p, 16), int32_t(0x87654321u));  // row 1 starts one level up
    EXPECT_EQ(i32_at(p, 17), int32_t(0x0FEDCBA9u));
    const Decoded dq = decode_packed(ck, "model.layers.0.self_attn.q_proj");
    for (int64_t r = 0; r < dq.rows; ++r)
      for (int64_t c = 0; c < dq.cols; ++c) ASSERT_EQ(dq.levels[size_t(r * dq.cols + c)], (c + r) % 16 - 8) << r << "," << c;
    if (asym) {
      const TensorView& z = ck.tensor("model.layers.0.self_attn.q_proj.weight_zero_point");
      EXPECT_EQ(z.shape, (std::vector<int64_t>{16, 4}));  // 128 rows / 8 per word, 4 groups
      for (int64_t g = 0; g < 4; ++g) {
        EXPECT_EQ(i32_at(z, g), int32_t(0x76543210u));      // rows 0..7: zero points -8..-1
        EXPECT_EQ(i32_at(z, 4 + g), int32_t(0xFEDCBA98u));  // rows 8..15: 0..7
      }
      const json cfg = config_of(d.file("out"));
      EXPECT_EQ(cfg["quantization_config"]["config_groups"]["group_0"]["weights"]["symmetric"], false);
    } else {
      EXPECT_FALSE(ck.has("model.layers.0.self_attn.q_proj.weight_zero_point"));
    }
  }
}

// ---- PTQ: the recipe's RTN rule -------------------------------------------------------------

// The recipe names bf16: floats and scales in bf16 from the float32 fixture.
TEST(CompressedTensors, W4a16G32DensePleBf16) {
  TempDir d;
  const std::string out = d.file("out");
  const CompressedTensorsExportResult r = export_compressed_tensors(fixture("dense_ple"), out, quiet([] {
                                                       CompressedTensorsExportOptions o;
                                                       o.recipe = Recipe::load("w4a16-g32");
                                                       o.recipe->unquantized_dtype = "bf16";
                                                       return o;
                                                     }()));
  EXPECT_FALSE(r.from_run);
  EXPECT_EQ(r.format, "pack-quantized");
  EXPECT_EQ(r.scale_dtype, DType::BF16);
  EXPECT_EQ(r.shards, 1u);
  const Tensors src = load_all(fixture("dense_ple"));
  // 6 layers x (q, o, gate, up, down, PLE gate, PLE projection) + k, v on the 3 own-KV layers + PLE model projection
  expect_packed_equals_fake_quant(out, src, quant::parse_weight_scheme("int4_g32@bf16"), 6 * 7 + 3 * 2 + 1);
  expect_floats(out, src, DType::BF16);
  expect_contiguous(fs::path(out) / "model.safetensors");
  EXPECT_EQ(r.unused_skipped, 0u);

  const Checkpoint ck = Checkpoint::open(out);
  EXPECT_FALSE(ck.has("model.layers.3.self_attn.k_proj.weight_packed"));  // KV-shared: not stored
  EXPECT_EQ(ck.tensor("model.layers.0.self_attn.q_proj.weight_scale").shape, (std::vector<int64_t>{128, 4}));
  EXPECT_EQ(ck.tensor("model.layers.0.per_layer_projection.weight_packed").shape, (std::vector<int64_t>{128, 4}));
  EXPECT_EQ(ck.tensor("model.embed_tokens.weight").dtype, DType::BF16);

  const json cfg = config_of(out);
  EXPECT_EQ(cfg["architectures"], json::array({"Gemma4ForCausalLM"}));
  EXPECT_EQ(cfg["dtype"], "bfloat16");
  const json& q = cfg["quantization_config"];
  EXPECT_EQ(q["quant_method"], "compressed-tensors");
  EXPECT_EQ(q["format"], "pack-quantized");
  EXPECT_EQ(q["quantization_status"], "compressed");
  EXPECT_TRUE(q["kv_cache_scheme"].is_null());
  EXPECT_TRUE(q["version"].is_string());
  ASSERT_EQ(q["config_groups"].size(), 1u);
  const json& g = q["config_groups"]["group_0"];
  EXPECT_FALSE(g.contains("format"));  // one format: top-level only
  EXPECT_TRUE(g["input_activations"].is_null());
  EXPECT_TRUE(g["output_activations"].is_null());
  const json& wa = g["weights"];
  EXPECT_TRUE(wa["num_bits"].is_number_integer());
  EXPECT_EQ(wa["num_bits"], 4);
  EXPECT_EQ(wa["type"], "int");
  EXPECT_EQ(wa["symmetric"], true);
  EXPECT_EQ(wa["strategy"], "group");
  EXPECT_TRUE(wa["group_size"].is_number_integer());
  EXPECT_EQ(wa["group_size"], 32);
  EXPECT_EQ(wa["dynamic"], false);
  EXPECT_TRUE(wa["actorder"].is_null());
  // Targets: every stored module, plus k/v of the KV-shared layers (vLLM fuses them with q_proj).
  const std::set<std::string> targets = strings(g["targets"]);
  for (const std::string& m : modules_with(ck, ".weight_packed")) EXPECT_TRUE(targets.count(m)) << m;
  for (int l = 3; l < 6; ++l) {
    EXPECT_TRUE(targets.count("model.layers." + std::to_string(l) + ".self_attn.k_proj")) << l;
    EXPECT_TRUE(targets.count("model.layers." + std::to_string(l) + ".self_attn.v_proj")) << l;
  }
  EXPECT_EQ(targets.size(), 6u * 7 + 6 * 2 + 1);
  EXPECT_EQ(strings(q["ignore"]), (std::set<std::string>{"lm_head"}));
  // What the config reader makes of it.
  const Gemma4Config back = Gemma4Config::load(out);
  EXPECT_EQ(back.num_hidden_layers, 6);
  EXPECT_EQ(back.num_kv_shared_layers, 3);
}

TEST(CompressedTensors, W4a16G32MoeExpertsPerExpert) {
  TempDir d;
  const std::string out = d.file("out");
  CompressedTensorsExportOptions o;
  o.recipe = Recipe::load("w4a16-g32");
  const CompressedTensorsExportResult r = export_compressed_tensors(fixture("moe_keqv"), out, quiet(o));
  const Tensors src = load_all(fixture("moe_keqv"));
  // 4 layers x (q, k, o, gate, up, down) + v on 2 sliding layers + 4 layers x 8 experts x 3
  expect_packed_equals_fake_quant(out, src, quant::parse_weight_scheme("int4_g32"), 4 * 6 + 2 + 4 * 8 * 3);
  EXPECT_EQ(r.modules_by_scheme.at("int4_g32"), size_t(4 * 6 + 2 + 4 * 8 * 3));
  const Checkpoint ck = Checkpoint::open(out);
  EXPECT_EQ(ck.tensor("model.layers.0.experts.7.up_proj.weight_packed").shape, (std::vector<int64_t>{64, 16}));
  EXPECT_EQ(ck.tensor("model.layers.0.experts.7.down_proj.weight_scale").shape, (std::vector<int64_t>{128, 2}));
  EXPECT_FALSE(ck.has("model.layers.0.experts.gate_up_proj"));
  EXPECT_EQ(ck.tensor("model.layers.0.router.proj.weight").dtype, DType::F32);  // the checkpoint's float dtype
  EXPECT_FALSE(ck.has("model.layers.1.self_attn.v_proj.weight_packed"));  // K=V: vLLM copies k_proj
  const json q = config_of(out)["quantization_config"];
  const std::set<std::string> targets = strings(q["config_groups"]["group_0"]["targets"]);
  EXPECT_TRUE(targets.count("model.layers.1.self_attn.v_proj"));  // so that vLLM's fused q/k/v matches
  EXPECT_TRUE(targets.count("re:model\\.layers\\.2\\.(moe\\.)?experts\\.\\d+\\.(gate|up|down)_proj$"));
  const std::set<std::string> ignore = strings(q["ignore"]);
  EXPECT_TRUE(ignore.count("model.layers.3.router.proj"));
  EXPECT_TRUE(ignore.count("lm_head"));
}

TEST(CompressedTensors, W4a16G128F32ScalesAreBitExact) {
  TempDir d;
  const std::string out = d.file("out");
  CompressedTensorsExportOptions o;
  o.recipe = Recipe::load("w4a16-g128");
  o.scale_dtype = DType::F32;
  export_compressed_tensors(fixture("dense_keqv"), out, quiet(o));
  const Tensors src = load_all(fixture("dense_keqv"));
  // 6 layers x (q, k, o, gate, up, down) + v on the 4 sliding layers; every width divides by 128
  expect_packed_equals_fake_quant(out, src, quant::parse_weight_scheme("int4_g128"), 6 * 6 + 4);
  const json wa = config_of(out)["quantization_config"]["config_groups"]["group_0"]["weights"];
  EXPECT_EQ(wa["group_size"], 128);
  const Checkpoint ck = Checkpoint::open(out);
  EXPECT_EQ(ck.tensor("model.layers.0.mlp.down_proj.weight_scale").dtype, DType::F32);
  EXPECT_EQ(ck.tensor("model.layers.0.mlp.down_proj.weight_scale").shape, (std::vector<int64_t>{128, 2}));
}

TEST(CompressedTensors, ChannelWiseWeights) {
  TempDir d;
  const std::string out = d.file("out");
  export_compressed_tensors(fixture("dense_keqv"), out,
                            with_recipe(R"({"weights": [{"targets": ["Linear"], "scheme": "int4_channel"}]})"));
  const Tensors src = load_all(fixture("dense_keqv"));
  expect_packed_equals_fake_quant(out, src, quant::parse_weight_scheme("int4_channel"), 6 * 6 + 4);
  const Checkpoint ck = Checkpoint::open(out);
  EXPECT_EQ(ck.tensor("model.layers.0.self_attn.o_proj.weight_scale").shape, (std::vector<int64_t>{128, 1}));
  const json wa = config_of(out)["quantization_config"]["config_groups"]["group_0"]["weights"];
  EXPECT_EQ(wa["strategy"], "channel");
  EXPECT_TRUE(wa["group_size"].is_null());
}

using test::w8a8_calibration;

TEST(CompressedTensors, W8a8StaticInputScales) {
  TempDir d;
  const std::string out = d.file("out");
  const Gemma4Config cfg = Gemma4Config::load(fixture("dense_keqv"));
  const Calibration cal = w8a8_calibration(cfg);
  cal.save(d.file("calib.json"));
  CompressedTensorsExportOptions o;
  o.recipe = Recipe::load("w8a8-static");
  o.calibration = d.file("calib.json");
  const CompressedTensorsExportResult r = export_compressed_tensors(fixture("dense_keqv"), out, quiet(o));
  EXPECT_EQ(r.format, "int-quantized");
  const Tensors src = load_all(fixture("dense_keqv"));
  const Checkpoint ck = Checkpoint::open(out);
  const std::vector<std::string> mods = modules_with(ck, ".input_scale");
  EXPECT_EQ(mods.size(), size_t(6 * 6 + 4));
  const quant::WeightScheme scheme = quant::parse_weight_scheme("int8_channel");
  for (const std::string& m : mods) {
    const Source s = source_of(src, m);
    const Decoded dw = decode_int8(ck, m);
    const std::vector<float> x = rows_of(src, s.tensor, s.row0, s.rows, s.cols);
    std::vector<float> y(x.size());
    quant::fake_quant_weight(scheme, x.data(), y.data(), s.rows, s.cols);
    expect_bits_equal(dequant(dw), y, m);
    const TensorView& is = ck.tensor(m + ".input_scale");
    EXPECT_EQ(is.dtype, DType::F32);
    EXPECT_EQ(is.shape, (std::vector<int64_t>{1}));
    EXPECT_EQ(float_bits(is.to_f32()[0]), float_bits(cal.activations.at(s.module).scale)) << m;
    EXPECT_FALSE(ck.has(m + ".input_zero_point"));
  }
  const json g = config_of(out)["quantization_config"]["config_groups"]["group_0"];
  EXPECT_EQ(g["weights"]["num_bits"], 8);
  EXPECT_EQ(g["weights"]["strategy"], "channel");
  EXPECT_EQ(g["input_activations"]["num_bits"], 8);
  EXPECT_EQ(g["input_activations"]["strategy"], "tensor");
  EXPECT_EQ(g["input_activations"]["symmetric"], true);
  EXPECT_EQ(g["input_activations"]["dynamic"], false);
  expect_contiguous(fs::path(out) / "model.safetensors");
}

TEST(CompressedTensors, KvCacheScalesFromCalibration) {
  TempDir d;
  const std::string out = d.file("out");
  Calibration c;
  for (int l = 0; l < 3; ++l)  // dense_ple: layers 3..5 share the K/V of layers 1 (sliding) and 2 (full)
    c.kv_cache["layers." + std::to_string(l) + ".self_attn"] = {-2.0f - l, 1.5f, -0.5f, 3.0f + l};
  c.save(d.file("calib.json"));
  std::vector<std::string> warnings;
  CompressedTensorsExportOptions o = with_recipe(R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}], "kv_cache": "kv_int8"})");
  o.calibration = d.file("calib.json");
  o.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  export_compressed_tensors(fixture("dense_ple"), out, o);
  const Checkpoint ck = Checkpoint::open(out);
  const Gemma4Config cfg = Gemma4Config::load(fixture("dense_ple"));
  for (int l = 0; l < 6; ++l) {
    const int src = cfg.kv_donor[size_t(l)] >= 0 ? cfg.kv_donor[size_t(l)] : l;
    const KvCalibration& k = c.kv_cache.at("layers." + std::to_string(src) + ".self_attn");
    const std::string p = "model.layers." + std::to_string(l) + ".self_attn.";
    EXPECT_EQ(ck.tensor(p + "k_scale").dtype, DType::F32);
    EXPECT_EQ(ck.tensor(p + "k_scale").shape, (std::vector<int64_t>{1}));
    EXPECT_EQ(ck.tensor(p + "k_scale").to_f32()[0], std::max(std::fabs(k.k_min), std::fabs(k.k_max)) / 127.0f) << l;
    EXPECT_EQ(ck.tensor(p + "v_scale").to_f32()[0], std::max(std::fabs(k.v_min), std::fabs(k.v_max)) / 127.0f) << l;
  }
  const json kv = config_of(out)["quantization_config"]["kv_cache_scheme"];
  EXPECT_EQ(kv["num_bits"], 8);
  EXPECT_EQ(kv["type"], "int");
  EXPECT_EQ(kv["strategy"], "tensor");
  EXPECT_EQ(kv["symmetric"], true);
  EXPECT_EQ(kv["dynamic"], false);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("per-tensor"), std::string::npos) << warnings[0];
}

TEST(CompressedTensors, ShardsWithIndex) {
  TempDir d;
  const std::string out = d.file("out");
  CompressedTensorsExportOptions o;
  o.recipe = Recipe::load("w4a16-g32");
  o.max_shard_bytes = 100 * 1000;
  o.chunk_bytes = 4096;  // many chunks per tensor as well
  const CompressedTensorsExportResult r = export_compressed_tensors(fixture("dense_ple"), out, quiet(o));
  EXPECT_GT(r.shards, 2u);
  const json index = json::parse(read_text(out + "/model.safetensors.index.json"));
  EXPECT_EQ(index["metadata"]["total_size"], r.bytes);
  EXPECT_EQ(index["weight_map"].size(), r.tensors);
  std::set<std::string> files;
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) files.insert(it.value());
  EXPECT_EQ(files.size(), r.shards);
  for (const std::string& f : files) {
    const auto [count, bytes] = expect_contiguous(fs::path(out) / f);
    if (count > 1) {
      EXPECT_LE(bytes, 100u * 1000) << f;  // only a lone tensor may exceed the limit
    }
  }
  EXPECT_FALSE(fs::exists(out + "/model.safetensors"));
  // The same values as one file.
  expect_packed_equals_fake_quant(out, load_all(fixture("dense_ple")), quant::parse_weight_scheme("int4_g32"), 49);
}

TEST(CompressedTensors, MixedFormatsGetPerGroupFormats) {
  TempDir d;
  const Gemma4Config cfg = Gemma4Config::load(fixture("dense_keqv"));
  Calibration cal = w8a8_calibration(cfg);
  for (auto it = cal.activations.begin(); it != cal.activations.end();)
    it = it->first.find(".mlp.") != std::string::npos ? cal.activations.erase(it) : std::next(it);
  cal.save(d.file("calib.json"));
  CompressedTensorsExportOptions o = with_recipe(R"({"weights": [{"targets": ["Linear"], "scheme": "int8_channel"},
                                                  {"targets": ["re:.*\\.mlp\\..*"], "scheme": "int4_g32_asym"}],
                                      "input_activations": [{"targets": ["re:.*self_attn.*"], "scheme": "int8_sym"}]})");
  o.calibration = d.file("calib.json");
  const CompressedTensorsExportResult r = export_compressed_tensors(fixture("dense_keqv"), d.file("out"), o);
  EXPECT_EQ(r.format, "mixed-precision");
  const json q = config_of(d.file("out"))["quantization_config"];
  ASSERT_EQ(q["config_groups"].size(), 2u);
  EXPECT_EQ(q["config_groups"]["group_0"]["format"], "int-quantized");
  EXPECT_EQ(q["config_groups"]["group_1"]["format"], "pack-quantized");
  EXPECT_EQ(q["config_groups"]["group_1"]["weights"]["symmetric"], false);
  EXPECT_TRUE(q["config_groups"]["group_1"]["input_activations"].is_null());
  const Checkpoint ck = Checkpoint::open(d.file("out"));
  EXPECT_EQ(modules_with(ck, ".input_scale").size(), size_t(6 * 3 + 4));
  EXPECT_EQ(modules_with(ck, ".weight_zero_point").size(), size_t(6 * 3));
  const Tensors src = load_all(fixture("dense_keqv"));
  expect_packed_equals_fake_quant(d.file("out"), src, quant::parse_weight_scheme("int4_g32_asym"), 6 * 3);
}

// The multimodal layout (prefix model.language_model., bf16, 29 shards) exports as the text model;
// k/v tensors that KV-shared layers carry in official checkpoints are not written.
TEST(CompressedTensors, InputLayouts) {
  TempDir d;
  CompressedTensorsExportOptions o;
  o.recipe = Recipe::load("w4a16-g32");
  const CompressedTensorsExportResult r = export_compressed_tensors(fixture("dense_ple_mm_bf16"), d.file("out"), quiet(o));
  Tensors src;
  for (auto& [n, v] : load_all(fixture("dense_ple_mm_bf16"))) {
    const std::string mm = "model.language_model.";
    src[n.rfind(mm, 0) == 0 ? "model." + n.substr(mm.size()) : n] = v;
  }
  expect_packed_equals_fake_quant(d.file("out"), src, quant::parse_weight_scheme("int4_g32@bf16"), 49);
  expect_floats(d.file("out"), src, DType::BF16);
  EXPECT_EQ(config_of(d.file("out"))["architectures"], json::array({"Gemma4ForCausalLM"}));
  EXPECT_EQ(r.other_towers_skipped, 0u);

  Tensors w = load_all(fixture("dense_ple"));
  w["model.layers.4.self_attn.k_proj.weight"] = {{64, 128}, std::vector<float>(64 * 128, 0.5f)};
  const fs::path m = d.path() / "model";
  fs::create_directories(m);
  fs::copy_file(fixture("dense_ple") + "/config.json", m / "config.json");
  save_all((m / "model.safetensors").string(), w);
  const CompressedTensorsExportResult r2 = export_compressed_tensors(m.string(), d.file("out2"), quiet(o));
  EXPECT_EQ(r2.unused_skipped, 1u);
  EXPECT_FALSE(Checkpoint::open(d.file("out2")).has("model.layers.4.self_attn.k_proj.weight_packed"));
}

// ---- QAT runs: the learned integers ---------------------------------------------------------

// Learned scales: RTN scales moved by up to 5%, so that they differ from anything RTN gives.
Tensors learned_params(const Tensors& w, const Gemma4Config& cfg, const quant::WeightScheme& scheme, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.05f, 0.05f);
  Tensors qp;
  for (const QuantTarget& t : gemma4_quant_targets(cfg)) {
    if (t.kind != TargetKind::Linear) continue;
    const std::vector<float>& x = w.at("model." + t.tensor).second;
    const int64_t spr = quant::weight_scales_per_row(scheme, t.cols);
    std::vector<float> s(size_t(t.rows * spr));
    std::vector<int8_t> z(s.size());
    quant::rtn_weight_params(scheme, x.data(), s.data(), scheme.symmetric ? nullptr : z.data(), t.rows, t.cols);
    for (float& v : s) v *= 1.0f + u(rng);
    qp[t.name + ".weight.scale"] = {{t.rows, spr}, s};
    if (!scheme.symmetric) qp[t.name + ".weight.zero_point"] = {{t.rows, spr}, std::vector<float>(z.begin(), z.end())};
  }
  return qp;
}

void expect_learned_export(const std::string& out, const Tensors& w, const Tensors& qp, const quant::WeightScheme& scheme) {
  const Checkpoint ck = Checkpoint::open(out);
  const std::vector<std::string> mods = modules_with(ck, ".weight_packed");
  EXPECT_EQ(mods.size(), size_t(6 * 6 + 4));
  for (const std::string& m : mods) {
    const Source s = source_of(w, m);
    const std::vector<float> x = rows_of(w, s.tensor, 0, s.rows, s.cols);
    const std::vector<float>& sc = qp.at(s.module + ".weight.scale").second;
    std::vector<int8_t> zp;
    if (!scheme.symmetric)
      for (float v : qp.at(s.module + ".weight.zero_point").second) zp.push_back(int8_t(v));
    // The integers the fake-quant model used, and the floats it computed.
    const quant::QuantizedWeight q =
        quant::quantize_weight_with_scales(scheme, x.data(), sc.data(), zp.empty() ? nullptr : zp.data(), s.rows, s.cols);
    std::vector<float> y(x.size());
    quant::fake_quant_weight_with_scales(scheme, x.data(), sc.data(), zp.empty() ? nullptr : zp.data(), y.data(), s.rows, s.cols);
    const Decoded dd = decode_packed(ck, m);
    ASSERT_EQ(dd.levels.size(), q.levels.size()) << m;
    for (size_t i = 0; i < q.levels.size(); ++i) ASSERT_EQ(dd.levels[i], int(q.levels[i])) << m << " element " << i;
    for (size_t i = 0; i < zp.size(); ++i) ASSERT_EQ(dd.zero_points[i], int(zp[i])) << m;
    expect_bits_equal(dequant(dd), y, m);
  }
}

TEST(CompressedTensors, LearnedBf16ScalesKeepTheTrainedIntegers) {
  for (const std::string name : {"int4_g32@bf16", "int4_g32_asym@bf16"}) {
    TempDir d;
    const quant::WeightScheme scheme = quant::parse_weight_scheme(name);
    const Tensors w = load_all(fixture("dense_keqv"));
    const Tensors qp = learned_params(w, Gemma4Config::load(fixture("dense_keqv")), scheme, 7);
    const std::string run = make_run(
        d, "dense_keqv", w, R"({"weights": [{"targets": ["Linear"], "scheme": ")" + name + R"("}], "learnable_scales": true})", qp);
    const CompressedTensorsExportResult r = export_compressed_tensors(run, d.file("out"), quiet());
    EXPECT_TRUE(r.from_run);
    EXPECT_EQ(r.learned_modules, size_t(6 * 6 + 4));
    EXPECT_EQ(r.scale_dtype, DType::BF16);
    expect_learned_export(d.file("out"), w, qp, scheme);
  }
}

// A run's float tensors are written as it holds them (float32), bit for bit.
void expect_run_floats(const std::string& out, const Tensors& w) {
  const Checkpoint ck = Checkpoint::open(out);
  for (const char* n : {"model.embed_tokens.weight", "model.norm.weight", "model.layers.0.input_layernorm.weight",
                        "model.layers.2.self_attn.k_norm.weight"}) {
    EXPECT_EQ(ck.tensor(n).dtype, DType::F32) << n;
    expect_bits_equal(ck.tensor(n).to_f32(), w.at(n).second, n);
  }
  EXPECT_EQ(config_of(out)["dtype"], "float32");
}

// A run trained in float32: its learned f32 scales are the contract, written as trained by
// default; --scale-dtype bf16 would round them and is refused naming the module.
TEST(CompressedTensors, LearnedF32ScalesAreWrittenAsTrained) {
  TempDir d;
  const quant::WeightScheme scheme = quant::parse_weight_scheme("int4_g32");
  const Tensors w = load_all(fixture("dense_keqv"));
  const Tensors qp = learned_params(w, Gemma4Config::load(fixture("dense_keqv")), scheme, 11);
  const std::string run =
      make_run(d, "dense_keqv", w, R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}], "learnable_scales": true})", qp);
  const CompressedTensorsExportResult r = export_compressed_tensors(run, d.file("out"), quiet());
  EXPECT_TRUE(r.from_run);
  EXPECT_EQ(r.scale_dtype, DType::F32);
  EXPECT_EQ(r.model_dtype, DType::F32);
  expect_learned_export(d.file("out"), w, qp, scheme);  // bit for bit with f32 scales
  expect_run_floats(d.file("out"), w);
  fs::remove_all(d.file("out"));

  CompressedTensorsExportOptions o = quiet();
  o.scale_dtype = DType::BF16;
  const std::string msg = refusal(run, d.file("out"), o);
  EXPECT_NE(msg.find("module 'layers.0.self_attn.q_proj' stores its scales in f32"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--scale-dtype bf16"), std::string::npos) << msg;
  EXPECT_NE(msg.find("train with int4_g32@bf16"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--allow-rounding"), std::string::npos) << msg;
  expect_nothing_written(d);

  // Allowed: written with bf16 scales, said in a warning that carries the caller's measurement.
  std::vector<std::string> warnings;
  o.allow_rounding = true;
  o.on_warning = [&](const std::string& s) { warnings.push_back(s); };
  o.rounding_effect = [](const Deployment& dep) {
    EXPECT_EQ(dep.contract.weights.at("layers.0.mlp.up_proj").scale_dtype, DType::F32);
    EXPECT_EQ(dep.deployed.weights.at("layers.0.mlp.up_proj").scale_dtype, DType::BF16);
    return std::string("measured max |Δlogit| 0.5");
  };
  const CompressedTensorsExportResult rb = export_compressed_tensors(run, d.file("out"), o);
  EXPECT_EQ(rb.scale_dtype, DType::BF16);
  EXPECT_EQ(rb.learned_modules, size_t(6 * 6 + 4));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("--allow-rounding"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("layers.0.self_attn.q_proj"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("measured max |Δlogit| 0.5"), std::string::npos) << warnings[0];
  expect_learned_export(d.file("out"), w, qp, quant::parse_weight_scheme("int4_g32@bf16"));
}

// An RTN-trained run (no learned scales) keeps the RTN integers of its own scheme, f32 scales
// included; --dtype bf16 would round its float tensors and is refused naming them.
TEST(CompressedTensors, RtnRunIsWrittenAsTrained) {
  TempDir d;
  const Tensors w = load_all(fixture("dense_keqv"));
  const std::string run = make_run(d, "dense_keqv", w, R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}]})", {});
  export_compressed_tensors(run, d.file("out"), quiet());
  expect_packed_equals_fake_quant(d.file("out"), w, quant::parse_weight_scheme("int4_g32"), 6 * 6 + 4);
  expect_run_floats(d.file("out"), w);
  fs::remove_all(d.file("out"));

  CompressedTensorsExportOptions o = quiet();
  o.float_dtype = DType::BF16;
  const std::string msg = refusal(run, d.file("out"), o);
  EXPECT_NE(msg.find("float tensors (embed_tokens.weight, the norms"), std::string::npos) << msg;
  EXPECT_NE(msg.find("are f32 in the run; --dtype bf16"), std::string::npos) << msg;
  expect_nothing_written(d);
  o.allow_rounding = true;
  const CompressedTensorsExportResult r = export_compressed_tensors(run, d.file("out"), o);
  EXPECT_EQ(r.model_dtype, DType::BF16);
  EXPECT_EQ(r.scale_dtype, DType::F32);  // --dtype moves the float tensors only
  expect_floats(d.file("out"), w, DType::BF16);
}

// Another recipe on a run re-quantizes it with RTN: refused naming the module and the learned
// scales it drops; allowed, written so with a warning that says it.
TEST(CompressedTensors, RunRecipeOverrideIsRefusedUnlessAllowed) {
  TempDir d;
  const quant::WeightScheme scheme = quant::parse_weight_scheme("int4_g32@bf16");
  const Tensors w = load_all(fixture("dense_keqv"));
  const Tensors qp = learned_params(w, Gemma4Config::load(fixture("dense_keqv")), scheme, 3);
  const std::string run = make_run(
      d, "dense_keqv", w, R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32@bf16"}], "learnable_scales": true})", qp);
  CompressedTensorsExportOptions o = quiet();
  o.recipe = Recipe::load("w4a16-g128");
  const std::string msg = refusal(run, d.file("out"), o);
  EXPECT_NE(msg.find("module 'layers.0.self_attn.q_proj': the run trained int4_g32@bf16, --recipe writes int4_g128"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("learned scales (" + run + "/checkpoint/quant_params.safetensors) are not written"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("export without --recipe"), std::string::npos) << msg;
  expect_nothing_written(d);

  std::vector<std::string> warnings;
  o.allow_rounding = true;
  o.on_warning = [&](const std::string& s) { warnings.push_back(s); };
  const CompressedTensorsExportResult r = export_compressed_tensors(run, d.file("out"), o);
  EXPECT_FALSE(r.from_run);
  EXPECT_EQ(r.learned_modules, 0u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("learned scales"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("are not written"), std::string::npos) << warnings[0];
  expect_packed_equals_fake_quant(d.file("out"), w, quant::parse_weight_scheme("int4_g128"), 6 * 6 + 4);
}

// The run's own recipe passed again is no change: the learned scales are kept.
TEST(CompressedTensors, RunsOwnRecipeIsNoChange) {
  TempDir d;
  const quant::WeightScheme scheme = quant::parse_weight_scheme("int4_g32");
  const Tensors w = load_all(fixture("dense_keqv"));
  const Tensors qp = learned_params(w, Gemma4Config::load(fixture("dense_keqv")), scheme, 5);
  const std::string recipe = R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}], "learnable_scales": true})";
  const std::string run = make_run(d, "dense_keqv", w, recipe, qp);
  const CompressedTensorsExportResult r = export_compressed_tensors(run, d.file("out"), with_recipe(recipe));
  EXPECT_TRUE(r.from_run);
  EXPECT_TRUE(r.warnings.empty());
  expect_learned_export(d.file("out"), w, qp, scheme);
}

// A plain checkpoint: "auto" is the checkpoint's dtype, and flags that leave the recipe's
// numbers are refused as on a run.
TEST(CompressedTensors, PlainCheckpointFollowsTheRecipe) {
  TempDir d;
  CompressedTensorsExportOptions o = quiet();
  o.recipe = Recipe::load("w4a16-g32");
  const CompressedTensorsExportResult r = export_compressed_tensors(fixture("dense_keqv"), d.file("out"), o);
  EXPECT_EQ(r.scale_dtype, DType::F32);  // the float32 checkpoint's
  EXPECT_EQ(r.model_dtype, DType::F32);
  EXPECT_EQ(config_of(d.file("out"))["dtype"], "float32");
  fs::remove_all(d.file("out"));
  o.scale_dtype = DType::BF16;
  const std::string msg = refusal(fixture("dense_keqv"), d.file("out"), o);
  EXPECT_NE(msg.find("stores its scales in f32 (int4_g32@f32: recipe 'w4a16-g32'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("name the scale dtype in the recipe (int4_g32@bf16)"), std::string::npos) << msg;
  expect_nothing_written(d);
}

// An ignored head of a tied model with a quantized table is a float copy (the exporter refuses a
// quantized table itself, so the plan is checked directly): lm_head.weight from the table, and
// config.json unties it.
TEST(CompressedTensors, IgnoredHeadOfATiedModelIsAFloatCopy) {
  const Gemma4Config cfg = Gemma4Config::load(fixture("dense_keqv"));
  ResolvedRecipe rr = resolve_recipe(Recipe::parse(R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}]})", "r.json"),
                                     gemma4_quant_targets(cfg), DType::F32);
  EXPECT_FALSE(compressed_tensors::writes_untied_head(cfg, rr));
  rr.untie_head = true;  // what resolve_recipe gives for "ignore": ["lm_head"] beside a quantized table
  ASSERT_TRUE(compressed_tensors::writes_untied_head(cfg, rr));
  const compressed_tensors::QuantizationConfig qc = compressed_tensors::plan_quantization_config(cfg, rr, "r.json");
  compressed_tensors::Inputs in;
  const Checkpoint ck = Checkpoint::open(fixture("dense_keqv"));
  const compressed_tensors::ItemList list = compressed_tensors::list_items(cfg, ck, rr, qc, in);
  size_t heads = 0;
  for (const compressed_tensors::Item& it : list.items)
    if (it.name == "lm_head.weight") {
      ++heads;
      EXPECT_EQ(it.kind, compressed_tensors::ItemKind::Float);
      EXPECT_EQ(it.source, "model.embed_tokens.weight");
      EXPECT_EQ(it.shape, (std::vector<int64_t>{512, 128}));
    }
  EXPECT_EQ(heads, 1u);
}

// ---- refusals and bad input -----------------------------------------------------------------

TEST(CompressedTensors, RecipesItCannotHoldAreRefused) {
  struct Case {
    std::string model, recipe, expect;
  };
  const std::vector<Case> cases = {
      {"dense_keqv", R"({"weights": [{"targets": ["Linear"], "scheme": "q4_0"}]})", "is a GGUF block type"},
      {"dense_keqv", "q4_0", "embed_tokens: this exporter keeps embedding tables unquantized"},
      {"dense_ple", "mobile", "embed_tokens: this exporter keeps embedding tables unquantized"},
      {"dense_keqv", R"({"weights": [{"targets": ["Linear"], "scheme": "int2_channel"}]})", "4- or 8-bit"},
      {"dense_keqv", R"({"weights": [{"targets": ["Linear"], "scheme": "int8_channel"}],
                         "input_activations": [{"targets": ["Linear"], "scheme": "int8_asym"}]})", "input scheme int8_asym"},
      {"dense_keqv", R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}],
                         "input_activations": [{"targets": ["Linear"], "scheme": "int8_sym"}]})", "only with int8 channel-wise"},
      {"dense_keqv", R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}], "kv_cache": "kv_int4"})", "8-bit KV cache"},
      {"dense_keqv", R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"},
                                     {"targets": ["layers.0.self_attn.k_proj"], "scheme": "int4_g128"}]})", "must share a scheme"},
      {"dense_keqv", R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}], "ignore": ["layers.2.mlp.up_proj"]})",
       "vLLM fuses gate/up"},
      {"moe_keqv", R"({"weights": [{"targets": ["Linear", "Experts"], "scheme": "int4_g32"},
                                   {"targets": ["re:.*experts\\.down_proj"], "scheme": "int8_channel"}]})", "one MoE kernel per layer"},
      {"moe_keqv", R"({"weights": [{"targets": ["Linear", "Router"], "scheme": "int4_g32"}]})", "router"},
      {"dense_keqv", R"({"weights": [{"targets": ["lm_head"], "scheme": "int4_g32"}]})", "output head"},
  };
  for (const Case& c : cases) {
    TempDir d;
    CompressedTensorsExportOptions o;
    o.recipe = c.recipe[0] == '{' ? Recipe::parse(c.recipe, "test-recipe.json") : Recipe::load(c.recipe);
    const std::string msg = refusal(fixture(c.model), d.file("out"), quiet(o));
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.recipe << "\n" << msg;
    expect_nothing_written(d);
  }
}

TEST(CompressedTensors, W8a8NeedsCalibration) {
  TempDir d;
  CompressedTensorsExportOptions o;
  o.recipe = Recipe::load("w8a8-static");
  EXPECT_NE(refusal(fixture("dense_keqv"), d.file("out"), quiet(o)).find("no calibration.json"), std::string::npos);
  Calibration c = w8a8_calibration(Gemma4Config::load(fixture("dense_keqv")));
  c.activations.at("layers.2.self_attn.k_proj").scale *= 2;  // q/k/v no longer share one scale
  c.save(d.file("calib.json"));
  o.calibration = d.file("calib.json");
  EXPECT_NE(refusal(fixture("dense_keqv"), d.file("out"), quiet(o)).find("one input scale per fused matmul"), std::string::npos);
  c.activations.erase("layers.2.self_attn.k_proj");
  c.save(d.file("calib.json"));
  EXPECT_NE(refusal(fixture("dense_keqv"), d.file("out"), quiet(o)).find("activations.layers.2.self_attn.k_proj is missing"),
            std::string::npos);
  expect_nothing_written(d);
}

TEST(CompressedTensors, BadInputLeavesNoOutput) {
  TempDir d;
  // No such folder; a plain checkpoint without a recipe.
  EXPECT_NE(refusal(d.file("nope"), d.file("out"), quiet()).find("not a checkpoint folder"), std::string::npos);
  EXPECT_NE(refusal(fixture("dense_keqv"), d.file("out"), quiet()).find("needs a recipe"), std::string::npos);
  // A truncated weights file.
  const fs::path m = d.path() / "model";
  fs::create_directories(m);
  fs::copy_file(fixture("dense_keqv") + "/config.json", m / "config.json");
  const std::string bytes = read_text(fixture("dense_keqv") + "/model.safetensors");
  write_text((m / "model.safetensors").string(), bytes.substr(0, bytes.size() / 2));
  CompressedTensorsExportOptions o;
  o.recipe = Recipe::load("w4a16-g32");
  EXPECT_NE(refusal(m.string(), d.file("out"), quiet(o)).find("model.safetensors"), std::string::npos);
  // A NaN in a weight: the codec refuses mid-stream, after earlier tensors were written.
  Tensors w = load_all(fixture("dense_keqv"));
  w.at("model.layers.5.mlp.down_proj.weight").second[77] = std::nanf("");
  save_all((m / "model.safetensors").string(), w);
  const std::string msg = refusal(m.string(), d.file("out"), quiet(o));
  EXPECT_NE(msg.find("model.layers.5.mlp.down_proj"), std::string::npos) << msg;
  // An existing folder that is not an export is left alone.
  fs::create_directories(d.path() / "out_mine");
  write_text(d.file("out_mine/notes.txt"), "keep");
  EXPECT_NE(refusal(fixture("dense_keqv"), d.file("out_mine"), quiet(o)).find("is not a compressed-tensors export"),
            std::string::npos);
  EXPECT_EQ(read_text(d.file("out_mine/notes.txt")), "keep");
  fs::remove_all(d.path() / "out_mine");
  expect_nothing_written(d);
}

TEST(CompressedTensors, ReExportReplacesAnEarlierExport) {
  TempDir d;
  CompressedTensorsExportOptions o;
  o.recipe = Recipe::load("w4a16-g32");
  export_compressed_tensors(fixture("dense_keqv"), d.file("out"), quiet(o));
  o.recipe = Recipe::load("w4a16-g128");
  export_compressed_tensors(fixture("dense_keqv"), d.file("out"), quiet(o));
  EXPECT_EQ(config_of(d.file("out"))["quantization_config"]["config_groups"]["group_0"]["weights"]["group_size"], 128);
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(d.path())) entries += e.path().filename().string().rfind("out", 0) == 0;
  EXPECT_EQ(entries, 1u);  // no .old / .tmp folders
}

}  // namespace
}  // namespace gq
