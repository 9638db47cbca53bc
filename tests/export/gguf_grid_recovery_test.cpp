// Grid recovery through the GGUF exporter (`convert`): a checkpoint whose weights lie on a grid of the
// type comes out of the GGUF file with the generating scales and codes; RTN's figure beside it; an
// ordinary checkpoint converts byte for byte as plain RTN; a grid whose scale fp16 cannot hold falls
// back to RTN with a warning. The last test compares two GGUF files named by the environment, for
// the CLI round trip of a QAT run (tests/cli/qat_hf_grid_roundtrip.sh).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <vector>

#include "export/gemma4_gguf.h"
#include "export/gguf_encode.h"
#include "export/gguf_types.h"
#include "recipes/recipe.h"
#include "formats/safetensors.h"
#include "io/half.h"
#include "model/checkpoint_layout.h"
#include "model/gemma4_tensors.h"
#include "quant/q2_0.h"
#include "quant/q4_0.h"
#include "quant/q8_0.h"

namespace gq {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("gq_grid_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

float bf16_round(float v) { return bf16_to_f32(f32_to_bf16(v)); }

// Levels and scales of a block-typed GGUF tensor [rows, cols].
struct Blocks {
  std::vector<int8_t> levels;
  std::vector<float> scales;
};

Blocks unpack(GgmlType t, const uint8_t* data, int64_t rows, int64_t cols) {
  Blocks b;
  b.levels.resize(size_t(rows * cols));
  b.scales.resize(size_t(rows * (cols / gguf_block_values(t))));
  switch (t) {
    case GgmlType::Q4_0: quant::q4_0_unpack(data, b.levels.data(), b.scales.data(), rows, cols); break;
    case GgmlType::Q8_0: quant::q8_0_unpack(data, b.levels.data(), b.scales.data(), rows, cols); break;
    case GgmlType::Q2_0: quant::q2_0_unpack(data, b.levels.data(), b.scales.data(), rows, cols); break;
    default: ADD_FAILURE() << "not a block type: " << ggml_type_name(t);
  }
  return b;
}

// A checkpoint (the dense_ple fixture's config) whose block-typed weights lie on a grid of `type`:
// per block, levels round(N(0, qmax / 3)) clamped to the range (the extreme level is rare, so RTN
// mostly picks another scale), times a bf16 (or fp16) scale of magnitude 2^-12 .. 2^-2 (a learned scale;
// random sign where the format's scale is signed). Where the mirrored grid (-q, -s) holds the same
// values, the generating grid follows the convention recovery reports (Q4_0: the extreme level
// negative; otherwise a positive scale). Other tensors are small random floats.
struct GridCheckpoint {
  std::string dir;
  std::map<std::string, Blocks> generated;  // by checkpoint tensor name
  std::vector<GgufTensorPlan> plan;
};

GridCheckpoint write_grid_checkpoint(const fs::path& dir, const GgufExportOptions& opt, DType dtype, uint32_t seed,
                                     DType scale_dtype = DType::BF16) {
  const std::string fixture = std::string(GQ_TEST_DATA) + "/gemma4-tiny/dense_ple";
  fs::copy_file(fixture + "/config.json", dir / "config.json");
  const Gemma4Config cfg = Gemma4Config::load(dir.string());
  const GgufTensorTypes types =
      gguf_types(cfg, resolve_recipe(opt.recipe ? *opt.recipe : gguf_type_recipe(*opt.type), gemma4_quant_targets(cfg), DType::F32),
                 false, "test");
  std::map<std::string, GgmlType> type_of;
  for (const QuantTarget& t : gemma4_quant_targets(cfg))
    if (!t.tensor.empty() && types.modules.count(t.name)) type_of[t.tensor] = types.modules.at(t.name);

  std::mt19937 rng(seed);
  std::normal_distribution<float> z(0.0f, 1.0f);
  std::uniform_real_distribution<float> log2s(-12.0f, -2.0f);
  GridCheckpoint g;
  g.dir = dir.string();
  std::vector<std::vector<float>> f32;
  std::vector<std::vector<uint16_t>> b16;
  std::vector<TensorToWrite> out;
  for (const TensorSpec& s : gemma4_tensor_specs(cfg)) {
    if (s.unused) continue;
    const int64_t cols = s.shape.back(), rows = s.numel() / cols;
    std::vector<float> x(size_t(s.numel()));
    auto it = type_of.find(s.name);
    const std::string name = stored_name(cfg.weight_prefix, s.name);
    if (it == type_of.end()) {
      for (float& v : x) v = 0.02f * z(rng);
    } else {
      const quant::GridSpec spec = gguf_grid_spec(it->second);
      const float spread = float(std::max(-spec.qmin, spec.qmax)) / 3.0f;
      const bool flips = spec.signed_scale && -spec.qmin > spec.qmax;
      Blocks& gen = g.generated[name];
      gen.levels.resize(x.size());
      gen.scales.resize(size_t(rows * (cols / spec.block)));
      for (size_t b = 0; b < gen.scales.size(); ++b) {
        const float s0 = std::exp2(log2s(rng));
        float sc = scale_dtype == DType::F16 ? f16_to_f32(f32_to_f16(s0)) : bf16_round(s0);
        if (spec.signed_scale && (rng() & 1)) sc = -sc;
        int8_t* q = &gen.levels[b * size_t(spec.block)];
        int64_t jmax = 0;
        bool mirrorable = spec.signed_scale;
        for (int64_t i = 0; i < spec.block; ++i) {
          q[i] = int8_t(std::min(float(spec.qmax), std::max(float(spec.qmin), std::nearbyint(z(rng) * spread))));
          if (std::abs(q[i]) > std::abs(q[jmax])) jmax = i;
        }
        for (int64_t i = 0; i < spec.block; ++i) mirrorable = mirrorable && -q[i] >= spec.qmin && -q[i] <= spec.qmax;
        if (mirrorable && flips && q[jmax] > 0)
          for (int64_t i = 0; i < spec.block; ++i) q[i] = int8_t(-q[i]);
        if (mirrorable && !flips) sc = std::fabs(sc);
        if (!spec.signed_scale) sc = std::fabs(sc);
        gen.scales[b] = sc;
        for (int64_t i = 0; i < spec.block; ++i) x[b * size_t(spec.block) + size_t(i)] = float(q[i]) * sc;  // exact
      }
    }
    if (dtype == DType::BF16) {
      std::vector<uint16_t> h(x.size());
      for (size_t i = 0; i < x.size(); ++i) h[i] = f32_to_bf16(x[i]);
      b16.push_back(std::move(h));
      out.push_back({name, DType::BF16, s.shape, b16.back().data(), b16.back().size() * 2});
    } else {
      f32.push_back(std::move(x));
      out.push_back({name, DType::F32, s.shape, f32.back().data(), f32.back().size() * 4});
    }
  }
  // `out` points into the inner vectors, whose buffers keep their address as the outer ones grow.
  write_safetensors((dir / "model.safetensors").string(), out);
  g.plan = plan_gemma4_gguf(cfg, Checkpoint::open(g.dir), types);
  return g;
}

struct Tally {
  int64_t blocks = 0, exact_codes = 0, exact_scale = 0, same_values = 0;
};

// The GGUF's blocks against the generating grid.
Tally tally(const GridCheckpoint& g, const GgufFile& f) {
  Tally t;
  for (const GgufTensorPlan& p : g.plan) {
    auto gen = g.generated.find(p.source);
    if (gen == g.generated.end() || p.name == "output.weight") continue;
    const int64_t cols = p.shape.back(), rows = int64_t(gen->second.levels.size()) / cols;
    const int64_t block = gguf_block_values(p.type);
    const Blocks got = unpack(p.type, f.tensor_data(f.tensor(p.name)), rows, cols);
    for (size_t b = 0; b < got.scales.size(); ++b) {
      ++t.blocks;
      bool codes = true, values = true;
      for (int64_t i = 0; i < block; ++i) {
        const size_t j = b * size_t(block) + size_t(i);
        codes = codes && got.levels[j] == gen->second.levels[j];
        values = values && float(got.levels[j]) * got.scales[b] == float(gen->second.levels[j]) * gen->second.scales[b];
      }
      t.exact_codes += codes;
      t.exact_scale += codes && got.scales[b] == gen->second.scales[b];
      t.same_values += values;
    }
  }
  return t;
}

struct Converted {
  Tally recovered, rtn;
  GgufExportResult result;
};

Converted convert_both(const GridCheckpoint& g, GgufExportOptions opt, const fs::path& dir) {
  opt.on_warning = [](const std::string&) {};
  opt.threads = 2;
  Converted c;
  opt.grid_recovery = true;
  c.result = export_gemma4_gguf(g.dir, (dir / "recovered.gguf").string(), opt);
  c.recovered = tally(g, GgufFile::open((dir / "recovered.gguf").string()));
  opt.grid_recovery = false;
  export_gemma4_gguf(g.dir, (dir / "rtn.gguf").string(), opt);
  c.rtn = tally(g, GgufFile::open((dir / "rtn.gguf").string()));
  return c;
}

double pct(int64_t n, int64_t of) { return 100.0 * double(n) / double(std::max<int64_t>(1, of)); }

GgufExportOptions of_type(GgmlType t) {
  GgufExportOptions o;
  o.type = t;
  return o;
}

// "Recovered exactly": the stored grid decodes to the generating grid's values. RTN is kept where
// it reproduces a block, so a block whose levels fit RTN's range twice over (here [-4, 3], about 1.4%
// of them) keeps RTN's equivalent grid (s / 2, 2q): the same values, other bytes. Both counts are
// printed and checked.
TEST(ConvertGridRecovery, Q4_0GridWithBf16ScalesStoredInF32IsRecoveredExactly) {
  const fs::path d = temp_dir("q4_f32");
  const fs::path ck = d / "ck";
  fs::create_directories(ck);
  const GridCheckpoint g = write_grid_checkpoint(ck, of_type(GgmlType::Q4_0), DType::F32, 1);
  const Converted c = convert_both(g, of_type(GgmlType::Q4_0), d);
  std::printf("q4_0 grid, f32 checkpoint, %lld blocks: convert decodes to the generating values for %.3f%% (the "
              "generating scale and codes themselves %.3f%%, an equivalent grid such as RTN's the rest); RTN "
              "(--no-grid-recovery) %.1f%% (%.1f%%)\n",
              (long long)c.recovered.blocks, pct(c.recovered.same_values, c.recovered.blocks),
              pct(c.recovered.exact_scale, c.recovered.blocks), pct(c.rtn.same_values, c.rtn.blocks),
              pct(c.rtn.exact_scale, c.rtn.blocks));
  ASSERT_GT(c.recovered.blocks, 10000);
  EXPECT_GE(double(c.recovered.same_values), 0.999 * double(c.recovered.blocks));
  EXPECT_GE(double(c.recovered.exact_scale), 0.98 * double(c.recovered.blocks));
  EXPECT_LT(double(c.rtn.same_values), 0.5 * double(c.rtn.blocks));
  const quant::GridRecoveryCounts& n = c.result.grid_recovery.at("Q4_0");
  EXPECT_EQ(n.blocks, c.recovered.blocks);
  EXPECT_EQ(n.on_grid, n.blocks);
  EXPECT_GT(n.recovered, n.blocks / 2);
  EXPECT_EQ(n.unsearched, 0);
  fs::remove_all(d);
}

TEST(ConvertGridRecovery, Q4_0GridRoundedToBf16KeepsTheGeneratingCodes) {
  const fs::path d = temp_dir("q4_bf16");
  const fs::path ck = d / "ck";
  fs::create_directories(ck);
  const GridCheckpoint g = write_grid_checkpoint(ck, of_type(GgmlType::Q4_0), DType::BF16, 2);
  const Converted c = convert_both(g, of_type(GgmlType::Q4_0), d);
  std::printf("q4_0 grid, bf16 checkpoint, %lld blocks: the generating codes and scale or RTN's equivalent grid "
              "(the generating values) for %.3f%%, the generating codes themselves %.3f%%; RTN (--no-grid-recovery) "
              "%.1f%% (%.1f%%)\n",
              (long long)c.recovered.blocks, pct(c.recovered.same_values, c.recovered.blocks),
              pct(c.recovered.exact_codes, c.recovered.blocks), pct(c.rtn.same_values, c.rtn.blocks),
              pct(c.rtn.exact_codes, c.rtn.blocks));
  EXPECT_GE(double(c.recovered.same_values), 0.99 * double(c.recovered.blocks));
  EXPECT_GE(double(c.recovered.exact_codes), 0.97 * double(c.recovered.blocks));
  EXPECT_LT(double(c.rtn.same_values), 0.5 * double(c.rtn.blocks));
  fs::remove_all(d);
}

// What a learned-scale QAT run exports in bf16: fp16 scales (11 bits) times levels, rounded to bf16
// (8 bits). The scale is then known only to within the rounding, the codes are not.
TEST(ConvertGridRecovery, Q4_0GridWithFp16ScalesRoundedToBf16KeepsTheGeneratingCodes) {
  const fs::path d = temp_dir("q4_f16s_bf16");
  const fs::path ck = d / "ck";
  fs::create_directories(ck);
  const GridCheckpoint g = write_grid_checkpoint(ck, of_type(GgmlType::Q4_0), DType::BF16, 5, DType::F16);
  const Converted c = convert_both(g, of_type(GgmlType::Q4_0), d);
  std::printf("q4_0 grid with fp16 scales, bf16 checkpoint, %lld blocks: the generating codes for %.3f%% (the "
              "generating scale too %.3f%%); RTN (--no-grid-recovery) codes %.1f%%\n",
              (long long)c.recovered.blocks, pct(c.recovered.exact_codes, c.recovered.blocks),
              pct(c.recovered.exact_scale, c.recovered.blocks), pct(c.rtn.exact_codes, c.rtn.blocks));
  EXPECT_GE(double(c.recovered.exact_codes), 0.98 * double(c.recovered.blocks));
  EXPECT_EQ(c.result.grid_recovery.at("Q4_0").on_grid, c.recovered.blocks);
  EXPECT_LT(double(c.rtn.exact_codes), 0.5 * double(c.rtn.blocks));
  fs::remove_all(d);
}

TEST(ConvertGridRecovery, Q8_0AndQ2_0Grids) {
  GgufExportOptions q2;
  // Q2_0 needs rows of 64-blocks: on the attention and MLP Linears (every row there is 128 or 256).
  q2.recipe = Recipe::parse(R"({"name": "q2", "weights": [{"targets": ["re:layers\\.\\d+\\.(self_attn|mlp)\\..*"],
                                 "scheme": "q2_0"}], "unquantized_dtype": "f16"})",
                            "q2.json");
  for (const GgufExportOptions& opt : {of_type(GgmlType::Q8_0), q2}) {
    const std::string what = opt.recipe ? "q2_0" : "q8_0";
    SCOPED_TRACE(what);
    const fs::path d = temp_dir(what);
    const fs::path ck = d / "ck";
    fs::create_directories(ck);
    const GridCheckpoint g = write_grid_checkpoint(ck, opt, DType::F32, 3);
    const Converted c = convert_both(g, opt, d);
    std::printf("%s grid, f32 checkpoint: generating codes for %lld / %lld blocks (%.3f%%), same values %.3f%%; "
                "RTN codes %.1f%%\n",
                what.c_str(), (long long)c.recovered.exact_codes, (long long)c.recovered.blocks,
                pct(c.recovered.exact_codes, c.recovered.blocks), pct(c.recovered.same_values, c.recovered.blocks),
                pct(c.rtn.exact_codes, c.rtn.blocks));
    ASSERT_GT(c.recovered.blocks, 1000);
    EXPECT_EQ(c.recovered.same_values, c.recovered.blocks);
    // Q2_0 levels {-1, 0, 1, 2}: a block whose levels are all even or all in {0, 1} fits two grids
    // with the same values (quant/grid_recovery.h); only the bytes can differ.
    EXPECT_GE(double(c.recovered.exact_codes), (opt.recipe ? 0.98 : 0.999) * double(c.recovered.blocks));
    EXPECT_LT(double(c.rtn.same_values), 0.9 * double(c.rtn.blocks));  // Q2_0's RTN holds blocks without a level 2
    fs::remove_all(d);
  }
}

TEST(ConvertGridRecovery, OrdinaryCheckpointConvertsAsPlainRtn) {
  const fs::path d = temp_dir("plain");
  const std::string fixture = std::string(GQ_TEST_DATA) + "/gemma4-tiny/dense_ple";
  GgufExportOptions opt = of_type(GgmlType::Q4_0);
  opt.on_warning = [](const std::string&) {};
  const GgufExportResult r = export_gemma4_gguf(fixture, (d / "recovered.gguf").string(), opt);
  opt.grid_recovery = false;
  const GgufExportResult plain = export_gemma4_gguf(fixture, (d / "rtn.gguf").string(), opt);
  EXPECT_TRUE(plain.grid_recovery.empty());
  const quant::GridRecoveryCounts& n = r.grid_recovery.at("Q4_0");
  EXPECT_EQ(n.recovered, 0);
  EXPECT_GT(n.blocks, 0);
  std::ifstream a(d / "recovered.gguf", std::ios::binary), b(d / "rtn.gguf", std::ios::binary);
  const std::string fa((std::istreambuf_iterator<char>(a)), {}), fb((std::istreambuf_iterator<char>(b)), {});
  EXPECT_TRUE(fa == fb) << "an off-grid checkpoint must convert to the bytes of plain RTN";
  fs::remove_all(d);
}

TEST(ConvertGridRecovery, ScaleFp16CannotHoldFallsBackToRtnWithAWarning) {
  // One block on a grid whose bf16 scale 2^-30 lies below fp16's smallest subnormal.
  std::vector<float> x(64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 13) - 6) * std::ldexp(1.0f, -30);
  std::vector<uint8_t> out(2 * quant::kQ4_0BlockBytes), plain(out.size());
  quant::GridRecoveryCounts n;
  const GridRecoveryRequest req{DType::F32, &n};
  encode_rows(GgmlType::Q4_0, x.data(), 1, 64, nullptr, out.data(), "t", 0, &req);
  encode_rows(GgmlType::Q4_0, x.data(), 1, 64, nullptr, plain.data(), "t", 0);
  EXPECT_EQ(n.scale_unstorable, 2);
  EXPECT_EQ(n.on_grid, 0);
  EXPECT_EQ(out, plain);  // RTN's bytes: a finite (here zero) fp16 scale, never an inf
  const Blocks b = unpack(GgmlType::Q4_0, out.data(), 1, 64);
  for (float s : b.scales) EXPECT_TRUE(std::isfinite(s));

  // Through the exporter: a warning naming the tensor.
  const fs::path d = temp_dir("unstorable");
  const fs::path ck = d / "ck";
  fs::create_directories(ck);
  GridCheckpoint g = write_grid_checkpoint(ck, of_type(GgmlType::Q4_0), DType::F32, 4);
  {
    Checkpoint c = Checkpoint::open(g.dir);
    std::vector<std::vector<float>> keep;
    std::vector<TensorToWrite> tensors;
    for (const std::string& name : c.names()) {
      const TensorView& tv = c.tensor(name);
      keep.emplace_back(size_t(tv.numel()));
      tv.to_f32(keep.back().data());
      if (name == "model.layers.0.mlp.down_proj.weight")
        for (size_t i = 0; i < 32; ++i) keep.back()[i] = x[i];
      tensors.push_back({name, DType::F32, tv.shape, keep.back().data(), keep.back().size() * 4});
    }
    write_safetensors((ck / "model2.safetensors").string(), tensors);
  }
  fs::rename(ck / "model2.safetensors", ck / "model.safetensors");
  GgufExportOptions opt = of_type(GgmlType::Q4_0);
  std::vector<std::string> warnings;
  opt.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  const GgufExportResult r = export_gemma4_gguf(g.dir, (d / "m.gguf").string(), opt);
  EXPECT_EQ(r.grid_recovery.at("Q4_0").scale_unstorable, 1);
  bool named = false;
  for (const std::string& w : warnings)
    named = named || (w.find("blk.0.ffn_down.weight") != std::string::npos && w.find("fp16 cannot hold") != std::string::npos);
  EXPECT_TRUE(named) << "no warning naming the tensor";
  fs::remove_all(d);
}

// ---- two GGUF files named by the environment ----

// GQ_GGUF_EXPECTED / GQ_GGUF_ACTUAL: every tensor of the first in the second with the same type and
// shape; GQ_GGUF_SAME=bytes: every tensor's bytes equal; =values: block tensors decode to the same
// values (bytes may differ where two grids hold them: a mirrored sign, a shared factor); =codes:
// every block has the same codes or their mirror (-codes), whatever its scale (what a checkpoint
// rounded to bf16 still determines; float tensors are not compared). Otherwise tensors that are
// not block-typed must be byte-equal. Prints
// the fractions per type. Skipped without the variables.
TEST(GgufSameTensors, FilesNamedByTheEnvironment) {
  const char* expected = std::getenv("GQ_GGUF_EXPECTED");
  const char* actual = std::getenv("GQ_GGUF_ACTUAL");
  if (!expected || !actual) GTEST_SKIP() << "run by tests/cli/qat_hf_grid_roundtrip.sh";
  const std::string same = std::getenv("GQ_GGUF_SAME") ? std::getenv("GQ_GGUF_SAME") : "bytes";
  const GgufFile a = GgufFile::open(expected), b = GgufFile::open(actual);
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  struct PerType {
    int64_t tensors = 0, equal_tensors = 0, blocks = 0, equal_blocks = 0, same_value_blocks = 0, same_code_blocks = 0,
            mirrored_blocks = 0;
  };
  std::map<std::string, PerType> by_type;
  for (const GgufTensorInfo& t : a.tensors()) {
    const GgufTensorInfo* u = b.find_tensor(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    ASSERT_EQ(u->type, t.type) << t.name;
    ASSERT_EQ(u->ne, t.ne) << t.name;
    PerType& p = by_type[ggml_type_name(t.type)];
    ++p.tensors;
    const bool equal = std::memcmp(a.tensor_data(t), b.tensor_data(*u), t.nbytes) == 0;
    p.equal_tensors += equal;
    const int64_t block = gguf_block_values(t.type);
    if (block == 0) {
      if (same != "codes") EXPECT_TRUE(equal) << t.name << ": " << ggml_type_name(t.type) << " data differ";
      continue;
    }
    const int64_t cols = t.ne[0], rows = t.numel() / cols;
    const Blocks x = unpack(t.type, a.tensor_data(t), rows, cols), y = unpack(t.type, b.tensor_data(*u), rows, cols);
    int64_t tensor_same_values = 0, tensor_same_codes = 0;
    for (size_t k = 0; k < x.scales.size(); ++k) {
      bool codes = true, values = true, mirrored_codes = true;
      for (int64_t i = 0; i < block; ++i) {
        const size_t j = k * size_t(block) + size_t(i);
        codes = codes && x.levels[j] == y.levels[j];
        mirrored_codes = mirrored_codes && x.levels[j] == -y.levels[j];
        values = values && float(x.levels[j]) * x.scales[k] == float(y.levels[j]) * y.scales[k];
      }
      ++p.blocks;
      p.equal_blocks += codes && x.scales[k] == y.scales[k];
      p.same_code_blocks += codes;
      p.mirrored_blocks += mirrored_codes && x.scales[k] == -y.scales[k];
      tensor_same_codes += codes || mirrored_codes;
      p.same_value_blocks += values;
      tensor_same_values += values;
    }
    if (same == "bytes") EXPECT_TRUE(equal) << t.name << ": " << ggml_type_name(t.type) << " bytes differ";
    else if (same == "values") EXPECT_EQ(tensor_same_values, int64_t(x.scales.size())) << t.name << ": blocks decode to other values";
    else EXPECT_EQ(tensor_same_codes, int64_t(x.scales.size())) << t.name << ": blocks with other codes";
  }
  for (const auto& [type, p] : by_type) {
    std::printf("%s: %lld / %lld tensors byte-equal", type.c_str(), (long long)p.equal_tensors, (long long)p.tensors);
    if (p.blocks)
      std::printf("; of %lld blocks %.3f%% byte-equal, %.3f%% decode to the same values, %.3f%% have the same codes, "
                  "%.3f%% the mirrored grid (-codes, -scale)",
                  (long long)p.blocks, pct(p.equal_blocks, p.blocks), pct(p.same_value_blocks, p.blocks),
                  pct(p.same_code_blocks, p.blocks), pct(p.mirrored_blocks, p.blocks));
    std::printf("\n");
  }
}

}  // namespace
}  // namespace gq
