#include "cli/export_validation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include <unistd.h>

#include <ATen/ATen.h>

#include "cli/export_rounding.h"
#include "engine/forward.h"
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

// max |Δ| and top-1 agreement of two [kTokens, V] logit sets, as the line's figures.
std::string figures(const std::vector<float>& want, const std::vector<float>& got, int64_t V, double* delta_out) {
  double delta = 0;
  int64_t top1 = 0;
  for (int64_t t = 0; t < kTokens; ++t) {
    const float* p = want.data() + t * V;
    const float* q = got.data() + t * V;
    for (int64_t i = 0; i < V; ++i) {
      const double d = std::fabs(double(p[i]) - double(q[i]));
      delta = std::max(delta, std::isnan(d) ? INFINITY : d);
    }
    top1 += (std::max_element(p, p + V) - p) == (std::max_element(q, q + V) - q);
  }
  *delta_out = delta;
  char b[160];
  std::snprintf(b, sizeof b, "max |Δlogit| %.3g", delta);
  char c[96];
  std::snprintf(c, sizeof c, " over %lld tokens, top-1 %lld/%lld", (long long)kTokens, (long long)top1, (long long)kTokens);
  return std::string(b) + "%s" + c;  // "%s": where the caller names the reference
}

std::string validate_gguf_export(const GgufExportResult& r, const std::string& calibration) {
  const ResolvedRecipe& rr = r.deployed;
  if (rr.has_static_activations() || rr.kv_cache)
    return "not validated: recipe " + rr.name + " quantizes activations or the KV cache, which the reference engine does not yet";
  if (const std::string big = too_large(Gemma4Config::load(r.checkpoint)); !big.empty()) return big;
  int64_t recovered = 0;
  for (const auto& [type, g] : r.grid_recovery) recovered += g.recovered;

  const engine::ModelWeights w = engine::ModelWeights::load_gguf(r.path);
  const std::vector<int64_t> ids = probe_ids(w.config());
  const bool learned = r.from_run && run_folder::QuantParams::open_if_present(r.checkpoint) != nullptr;
  const std::optional<Calibration> cal =
      calibration.empty() ? std::nullopt : std::optional<Calibration>(Calibration::load(calibration));
  const std::vector<float> want = fake_quant_logits(r.checkpoint, rr, learned, cal, ids);
  const std::vector<float> got = engine::logits(w, std::vector<int32_t>(ids.begin(), ids.end()));
  if (got.size() != want.size())
    throw FormatError(r.path + ": the reference engine gives " + std::to_string(got.size()) + " logits, the model " +
                      std::to_string(want.size()));
  const int64_t V = w.config().vocab_size;
  double delta = 0;
  int64_t top1 = 0;
  for (int64_t t = 0; t < kTokens; ++t) {
    const float* p = want.data() + t * V;
    const float* q = got.data() + t * V;
    for (int64_t i = 0; i < V; ++i) {
      const double d = std::fabs(double(p[i]) - double(q[i]));
      delta = std::max(delta, std::isnan(d) ? INFINITY : d);
    }
    top1 += (std::max_element(p, p + V) - p) == (std::max_element(q, q + V) - q);
  }
  char line[320];
  std::snprintf(line, sizeof line,
                "validated on the reference engine: max |Δlogit| %.3g against the fake-quant model (%s) over %lld tokens, "
                "top-1 %lld/%lld",
                delta, rr.name.empty() ? "unquantized" : ("recipe " + rr.name).c_str(), (long long)kTokens,
                (long long)top1, (long long)kTokens);
  std::string out = line;
  if (recovered > 0) {
    out += " (" + std::to_string(recovered) +
           " blocks hold recovered grids, which the fake-quant model's RTN does not reproduce: not a failure)";
    return out;
  }
  if (!(delta <= kExportTolerance))
    throw FormatError(r.path + ": the written file does not compute what the model does: " + out.substr(out.find("max")));
  return out;
}

std::string validate_hf_export(const std::string& out, Gemma4Model& model, const ResolvedRecipe* recipe, bool exact) {
  const char* prefix = "validated on the reference engine: ";
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
  double delta = 0;
  std::string f = figures(want, got, w.config().vocab_size, &delta);
  const std::string against = recipe ? "against the fake-quant model (recipe " + recipe->name + ")" : "against the model";
  f.replace(f.find("%s"), 2, " " + against);
  std::string line = prefix + f;
  if (!exact) return line + " (the folder's dtype rounds the model's values)";
  if (!(delta <= kExportTolerance)) throw FormatError(out + ": the written folder does not compute what the model does: " + f);
  return line;
}

}  // namespace gq::cli
