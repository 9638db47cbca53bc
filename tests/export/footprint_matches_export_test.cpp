// `plan` counts what the exporters write: every built-in recipe exported from tiny-e2b (bf16) with
// default options holds exactly the tensor bytes memory_footprint gives for its format (headers,
// GGUF keys, tensor infos and alignment padding aside).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "tests/common/test_util.h"
#include "export/compressed_tensors.h"
#include "export/gemma4_gguf.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "io/error.h"
#include "model/quant_targets.h"
#include "recipes/memory_footprint.h"
#include "run/source_dtype.h"
#include "tests/export/ct_runs.h"

namespace gq {
namespace {

namespace fs = std::filesystem;

const std::string kModel = std::string(GQ_TEST_DATA) + "/../../examples/models/tiny-e2b";

// Tensor bytes per dtype / ggml type, and in total.
struct Written {
  std::map<std::string, uint64_t> by_type;
  uint64_t total = 0;
  void add(const std::string& type, uint64_t n) { by_type[type] += n, total += n; }
};

std::string describe(const Written& w) {
  std::string s;
  for (const auto& [t, n] : w.by_type) s += " " + t + " " + std::to_string(n);
  return s;
}

std::string describe(const MemoryFootprint& p) {
  std::string s;
  for (const auto& [c, e] : p.components) s += " " + c + " " + std::to_string(e.bytes);
  return s;
}

Written export_gguf(const std::string& model, const Recipe& r, const std::string& out) {
  GgufExportOptions o;
  o.recipe = r;
  o.threads = 2;
  o.on_warning = [](const std::string&) {};
  export_gemma4_gguf(model, out, o);
  Written w;
  // Named: a range-for over GgufFile::open(out).tensors() would outlive the temporary file object.
  const GgufFile file = GgufFile::open(out);
  for (const GgufTensorInfo& t : file.tensors()) w.add(ggml_type_name(t.type), t.nbytes);
  return w;
}

Written export_ct(const std::string& model, const Recipe& r, const std::string& out, const std::string& calibration) {
  CompressedTensorsExportOptions o;
  o.recipe = r;
  o.calibration = calibration;
  o.threads = 2;
  o.on_warning = [](const std::string&) {};
  export_compressed_tensors(model, out, o);
  const Checkpoint ck = Checkpoint::open(out);
  Written w;
  for (const std::string& n : ck.names()) w.add(dtype_name(ck.tensor(n).dtype), ck.tensor(n).nbytes);
  return w;
}

// Every built-in recipe that `model` can hold, with default options; returns the recipes compared.
std::set<std::string> compare_all(const std::string& model, DType dtype) {
  test::TempDir d;
  const Gemma4Config cfg = Gemma4Config::load(model);
  EXPECT_EQ(run_folder::source_float_dtype(model), dtype);
  std::set<std::string> compared;
  for (const auto& e : fs::directory_iterator(builtin_recipe_dir())) {
    if (e.path().extension() != ".json") continue;
    const Recipe r = Recipe::load(e.path().string());
    ResolvedRecipe rr;
    try {
      rr = resolve_recipe(r, gemma4_quant_targets(cfg), dtype);
    } catch (const FormatError&) {
      continue;  // e.g. groups of 128 on rows of 64: neither planned nor exported
    }
    const std::string calibration = d.file(r.name + "-calibration.json");
    ct_test::static_calibration(rr).save(calibration);
    const StorageFormat f = default_storage_format(rr);
    const MemoryFootprint plan = memory_footprint(cfg, rr, f, 4096);
    const std::string out = d.file(r.name + (f == StorageFormat::Gguf ? ".gguf" : ""));
    if (r.name == "mobile") {
      // vLLM's layout (WNA8O8 linears and head, int embeddings): compressed-tensors only.
      EXPECT_EQ(f, StorageFormat::CompressedTensors);
      EXPECT_THROW(export_gguf(model, r, d.file("mobile.gguf")), FormatError);
    }
    const Written w = f == StorageFormat::Gguf ? export_gguf(model, r, out) : export_ct(model, r, out, calibration);
    EXPECT_EQ(int64_t(w.total), plan.total.bytes)
        << model << ", " << r.name << " (" << storage_format_name(f) << "): written" << describe(w) << "; planned"
        << describe(plan);
    compared.insert(r.name);
  }
  return compared;
}

TEST(FootprintMatchesExport, EveryBuiltinRecipe) {
  // tiny-e2b (bf16, PLE, KV sharing, tied head), then the float32 MoE fixture (experts split per
  // expert in compressed-tensors, K=V layers) and the 31B-like one (rows that groups of 128 fit).
  std::set<std::string> compared = compare_all(kModel, DType::BF16);
  EXPECT_EQ(compared.size(), 7u);  // all but w4a16-g128 (PLE projections have 64 inputs)
  for (const char* fix : {"moe_keqv", "dense_keqv"})
    for (const std::string& r : compare_all(std::string(GQ_TEST_DATA) + "/gemma4-tiny/" + fix, DType::F32)) compared.insert(r);
  EXPECT_EQ(compared, (std::set<std::string>{"mobile", "q4_0", "q4_0-embed-f16", "q4_0-embed-q8_0", "q4_0-lsq",
                                             "w4a16-g32", "w4a16-g128", "w8a8-static"}));
}

}  // namespace
}  // namespace gq
