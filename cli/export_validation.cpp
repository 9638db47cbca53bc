#include "cli/export_validation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include <unistd.h>

#include <ATen/ATen.h>

#include "cli/export_rounding.h"
#include "engine/forward.h"
#include "engine/native_weights.h"
#include "engine/weights.h"
#include "io/error.h"
#include "model/gemma4_tensors.h"
#include "run/quantization.h"

namespace gq::cli {
namespace {

constexpr int64_t kTokens = 16;

// BOS, then ids spread over the rows every token table has (a PLE table may be shorter).
std::vector<int64_t> probe_ids(const Gemma4Config& c) {
  const int64_t limit = c.has_ple() ? std::min(c.vocab_size, c.vocab_size_per_layer_input) : c.vocab_size;
  std::vector<int64_t> ids = {c.bos_token_id};
  for (int64_t i = 1; i < kTokens; ++i) ids.push_back(3 + (i * 7919) % std::max<int64_t>(1, limit - 3));
  return ids;
}

// Both models in float32 (the engine's weights and LibTorch's) must fit in half the machine's
// memory; otherwise the check is skipped with a line saying so (gemma-qat validate runs it anyway).
std::string too_large(const Gemma4Config& c) {
  int64_t params = 0;
  for (const TensorSpec& s : gemma4_tensor_specs(c))
    if (!s.unused) params += s.numel();
  const double need = double(params) * 8.0;
  const double ram = double(::sysconf(_SC_PHYS_PAGES)) * double(::sysconf(_SC_PAGESIZE));
  if (need <= 0.5 * ram) return "";
  char b[200];
  std::snprintf(b, sizeof b, "not validated: the float32 check needs %.1f GB, over half of this machine's %.1f GB (run gemma-qat validate where it fits)",
                need / 1e9, ram / 1e9);
  return b;
}

}  // namespace

// How two [kTokens, V] logit sets agree: max |Δ| (NaN counts as the largest) and top-1.
struct Agreement {
  double max_abs = 0;
  int64_t top1 = 0;
};

Agreement agreement(const std::vector<float>& want, const std::vector<float>& got, int64_t V) {
  Agreement a;
  for (int64_t t = 0; t < kTokens; ++t) {
    const float* p = want.data() + t * V;
    const float* q = got.data() + t * V;
    for (int64_t i = 0; i < V; ++i) {
      const double d = std::fabs(double(p[i]) - double(q[i]));
      a.max_abs = std::max(a.max_abs, std::isnan(d) ? INFINITY : d);
    }
    a.top1 += (std::max_element(p, p + V) - p) == (std::max_element(q, q + V) - q);
  }
  return a;
}

// "max |Δlogit| 6.7e-06 against the fake-quant model (recipe q4_0) over 16 tokens, top-1 16/16"
std::string figures(const Agreement& a, const std::string& against) {
  char b[256];
  std::snprintf(b, sizeof b, "max |Δlogit| %.3g against %s over %lld tokens, top-1 %lld/%lld", a.max_abs, against.c_str(),
                (long long)kTokens, (long long)a.top1, (long long)kTokens);
  return b;
}

constexpr char kValidated[] = "validated on the reference engine: ";

// The engine on `w` (read from `path`) against the fake-quant model of `checkpoint` under `rr`, on
// the probe tokens: with the run's learned parameters (`from_run` and present), else the recipe's
// RTN with static scales from `cal`.
Agreement engine_agreement(const engine::ModelWeights& w, const std::string& path, const std::string& checkpoint,
                           const ResolvedRecipe& rr, bool from_run, const std::optional<Calibration>& cal) {
  const std::vector<int64_t> ids = probe_ids(w.config());
  const bool learned = from_run && run_folder::QuantParams::open_if_present(checkpoint) != nullptr;
  const std::vector<float> want = fake_quant_logits(checkpoint, rr, learned, cal, ids);
  const std::vector<float> got = engine::logits(w, std::vector<int32_t>(ids.begin(), ids.end()));
  if (got.size() != want.size())
    throw FormatError(path + ": the reference engine gives " + std::to_string(got.size()) + " logits, the model " +
                      std::to_string(want.size()));
  return agreement(want, got, w.config().vocab_size);
}

std::string validate_gguf_export(const GgufExportResult& r, const std::string& calibration) {
  const ResolvedRecipe& rr = r.deployed;
  if (rr.has_static_activations() || rr.kv_cache)
    return "not validated: recipe " + rr.name + " quantizes activations or the KV cache, which the reference engine does not yet";
  if (const std::string big = too_large(Gemma4Config::load(r.checkpoint)); !big.empty()) return big;
  int64_t recovered = 0;
  for (const auto& [type, g] : r.grid_recovery) recovered += g.recovered;

  const std::optional<Calibration> cal =
      calibration.empty() ? std::nullopt : std::optional<Calibration>(Calibration::load(calibration));
  const Agreement ag = engine_agreement(engine::ModelWeights::load_gguf(r.path), r.path, r.checkpoint, rr, r.from_run, cal);
  const std::string f =
      figures(ag, "the fake-quant model (" + (rr.name.empty() ? std::string("unquantized") : "recipe " + rr.name) + ")");
  if (recovered > 0)
    return kValidated + f + " (" + std::to_string(recovered) +
           " blocks hold recovered grids, which the fake-quant model's RTN does not reproduce: not a failure)";
  if (!(ag.max_abs <= kExportTolerance)) throw FormatError(r.path + ": the written file does not compute what the model does: " + f);
  return kValidated + f;
}

std::string validate_native_export(const NativeExportResult& r, const std::string& calibration) {
  const ResolvedRecipe& rr = r.deployed;
  if (const std::string big = too_large(Gemma4Config::load(r.checkpoint)); !big.empty()) return big;
  const std::optional<Calibration> cal =
      calibration.empty() ? run_folder::read_calibration(r.checkpoint) : std::optional<Calibration>(Calibration::load(calibration));
  const Agreement ag = engine_agreement(engine::load_native(r.path), r.path, r.checkpoint, rr, r.from_run, cal);
  const std::string f = figures(ag, "the fake-quant model (recipe " + rr.name + ")");
  // Quantized activations or KV cache: float32 noise between the engine's and LibTorch's matmuls
  // moves the odd value across a rounding boundary (an int8 step, a bf16 ulp), which propagates, so
  // max |Δlogit| is not held to 1e-3; the top-1 token must still agree everywhere.
  if (rr.has_static_activations() || rr.kv_cache) {
    if (ag.top1 != kTokens) throw FormatError(r.path + ": the written file does not compute what the model does: " + f);
    if (!(ag.max_abs <= kExportTolerance))
      return kValidated + f + " (quantized activations: float32 noise between the engine and LibTorch flips the odd rounding; "
                              "the tensors are bit-exact, tests/contract)";
    return kValidated + f;
  }
  if (!(ag.max_abs <= kExportTolerance)) throw FormatError(r.path + ": the written file does not compute what the model does: " + f);
  return kValidated + f;
}

std::string validate_hf_export(const std::string& out, Gemma4Model& model, const ResolvedRecipe* recipe, bool exact) {
  if (recipe && (recipe->has_static_activations() || recipe->kv_cache))
    return "not validated: recipe " + recipe->name + " quantizes activations or the KV cache, which the reference engine does not yet";
  if (const std::string big = too_large(model->config()); !big.empty()) return big;
  const engine::ModelWeights w = engine::ModelWeights::load_safetensors(out);
  const std::vector<int64_t> ids = probe_ids(w.config());
  std::vector<float> want;
  {
    at::NoGradGuard ng;
    model->eval();
    const at::Tensor y = model->forward(at::tensor(ids, at::kLong).unsqueeze(0)).logits[0].contiguous();
    want.assign(y.data_ptr<float>(), y.data_ptr<float>() + y.numel());
  }
  const std::vector<float> got = engine::logits(w, std::vector<int32_t>(ids.begin(), ids.end()));
  if (got.size() != want.size()) throw FormatError(out + ": the reference engine and the model disagree on the logits' shape");
  const Agreement ag = agreement(want, got, w.config().vocab_size);
  const std::string f = figures(ag, recipe ? "the fake-quant model (recipe " + recipe->name + ")" : "the model");
  if (!exact) return kValidated + f + " (the folder's dtype rounds the model's values)";
  if (!(ag.max_abs <= kExportTolerance)) throw FormatError(out + ": the written folder does not compute what the model does: " + f);
  return kValidated + f;
}

}  // namespace gq::cli
