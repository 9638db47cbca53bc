#include "cli/export_validation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "cli/export_rounding.h"
#include "engine/forward.h"
#include "engine/weights.h"
#include "io/error.h"
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

}  // namespace

std::string validate_gguf_export(const GgufExportResult& r, const std::string& calibration) {
  const ResolvedRecipe& rr = r.deployed;
  if (rr.has_static_activations() || rr.kv_cache)
    return "not validated: recipe " + rr.name + " quantizes activations or the KV cache, which the reference engine does not yet";
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

}  // namespace gq::cli
