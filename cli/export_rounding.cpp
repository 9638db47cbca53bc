#include "cli/export_rounding.h"

#include <cmath>
#include <cstdio>
#include <optional>

#include <ATen/ATen.h>

#include "qat/checkpoint_loader.h"
#include "qat/quantize.h"
#include "qat/run_quantization.h"
#include "recipes/calibration.h"
#include "run/quantization.h"

namespace gq::cli {
namespace {

constexpr int64_t kTokens = 8;  // enough to pass every layer type; cheap on any model

// BOS, then ids spread over the vocabulary away from the special tokens.
at::Tensor probe_ids(const Gemma4Config& cfg) {
  std::vector<int64_t> ids = {cfg.bos_token_id};
  for (int64_t i = 1; i < kTokens; ++i) ids.push_back(4 + (i * 7919) % (cfg.vocab_size - 4));
  return at::tensor(ids, at::kLong).unsqueeze(0);
}

// Logits of the checkpoint's fake-quant model under `rr`: with the run's learned parameters, or
// the recipe's RTN (static input scales from `calibration`).
at::Tensor logits_under(const std::string& checkpoint, const ResolvedRecipe& rr, bool learned,
                        const std::optional<Calibration>& calibration) {
  Gemma4Model model = load_model(checkpoint);
  if (learned) apply_run_quantization(model, checkpoint, rr);
  else quantize_model(model, rr, calibration ? &*calibration : nullptr);
  at::NoGradGuard ng;
  return model->forward(probe_ids(model->config())).logits;
}

}  // namespace

std::vector<float> fake_quant_logits(const std::string& checkpoint, const ResolvedRecipe& rr, bool learned,
                                     const std::optional<Calibration>& calibration, const std::vector<int64_t>& ids) {
  Gemma4Model model = load_model(checkpoint);
  if (learned) apply_run_quantization(model, checkpoint, rr);
  else quantize_model(model, rr, calibration ? &*calibration : nullptr);
  at::NoGradGuard ng;
  const at::Tensor y = model->forward(at::tensor(ids, at::kLong).unsqueeze(0)).logits[0].contiguous();
  return std::vector<float>(y.data_ptr<float>(), y.data_ptr<float>() + y.numel());
}

RoundingEffect logit_rounding_effect(const std::string& calibration) {
  return [calibration](const Deployment& d) -> std::string {
    std::optional<Calibration> cal =
        calibration.empty() ? run_folder::read_calibration(d.checkpoint) : std::optional<Calibration>(Calibration::load(calibration));
    if ((!d.contract.activations.empty() || !d.deployed.activations.empty()) && !cal)
      return "max |Δlogit| not measured (static input scales need a calibration: --calib)";
    const bool learned = d.run && run_folder::QuantParams::open_if_present(d.checkpoint);
    const at::Tensor want = logits_under(d.checkpoint, d.contract, learned, cal);
    const at::Tensor got = logits_under(d.checkpoint, d.deployed, learned && d.trained, cal);
    const double delta = (want - got).abs().max().item<double>();
    char b[160];
    std::snprintf(b, sizeof b, "measured max |Δlogit| %.4g over %lld tokens (logits range ±%.3g)", delta, (long long)kTokens,
                  want.abs().max().item<double>());
    return b;
  };
}

}  // namespace gq::cli
