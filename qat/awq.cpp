#include "qat/awq.h"

#include <cmath>
#include <limits>
#include <map>
#include <memory>

#include <ATen/ATen.h>

#include "io/error.h"
#include "qat/calibration_pass.h"
#include "qat/fake_quant_ops.h"
#include "qat/gptq.h"
#include "qat/quantize.h"
#include "qat/weight_quantizer.h"

namespace gq {

at::Tensor awq_weight_mean(const std::vector<AwqBalance>& balance) {
  at::NoGradGuard ng;
  if (balance.empty()) throw FormatError("awq: a mapping without balance Linears");
  const int64_t C = balance.front().weight.size(1);
  int64_t block = C;  // the row, unless a quantized balance Linear's scheme has blocks
  for (const AwqBalance& b : balance)
    if (b.scheme) {
      block = b.scheme->block_size(C);
      break;
    }
  at::Tensor sum = at::zeros({C}, at::kDouble);
  int64_t rows = 0;
  for (const AwqBalance& b : balance) {
    if (b.weight.size(1) != C) throw FormatError("awq: balance Linears of one mapping must share their input width");
    const at::Tensor a = b.weight.detach().to(at::kCPU).to(at::kDouble).abs().reshape({-1, block});
    const at::Tensor rel = (a / (a.amax(1, /*keepdim=*/true) + 1e-6)).reshape({-1, C});
    sum += rel.sum(0);
    rows += rel.size(0);
  }
  return sum / double(rows);
}

at::Tensor awq_candidate_scale(const at::Tensor& x_mean, const at::Tensor& w_mean, double ratio, bool duo_scaling) {
  const at::Tensor x = x_mean.to(at::kDouble);
  at::Tensor s = duo_scaling ? x.pow(ratio) / (w_mean.to(at::kDouble).pow(1.0 - ratio) + 1e-4) : x.pow(ratio);
  s = s.clamp_min(1e-4);
  s = s / (s.max() * s.min()).sqrt();
  return at::where(at::isfinite(s), s, at::ones_like(s));  // an overflow (inf, nan) leaves its channel alone
}

double awq_loss(const std::vector<AwqBalance>& balance, const at::Tensor& scale, const at::Tensor& hessian) {
  at::NoGradGuard ng;
  const at::Tensor s = scale.to(at::kFloat).reshape({1, -1});
  double loss = 0;
  for (const AwqBalance& b : balance) {
    if (!b.scheme) continue;  // unquantized: W · s / s, no error
    const at::Tensor w = b.weight.detach().to(at::kCPU).to(at::kFloat).contiguous();
    const at::Tensor q = fake_quant_weight_rtn(*b.scheme, (w * s).contiguous()) / s;
    loss += gptq_loss(w, q, hessian);
  }
  return loss;
}

AwqSearchResult awq_search(const std::vector<AwqBalance>& balance, const at::Tensor& x_mean, const at::Tensor& hessian,
                           const AwqOptions& opt) {
  if (opt.n_grid < 1) throw FormatError("awq: the grid needs at least one ratio");
  const at::Tensor w_mean = awq_weight_mean(balance);
  AwqSearchResult r;
  r.loss_rtn = awq_loss(balance, at::ones_like(w_mean), hessian);
  r.loss_awq = std::numeric_limits<double>::infinity();
  for (int64_t k = 0; k < opt.n_grid; ++k) {
    const double ratio = double(k) / double(opt.n_grid);
    const at::Tensor s = awq_candidate_scale(x_mean, w_mean, ratio, opt.duo_scaling).to(at::kFloat);
    const double loss = awq_loss(balance, s, hessian);
    if (loss < r.loss_awq) r = AwqSearchResult{ratio, s, r.loss_rtn, loss};
  }
  return r;
}

std::vector<AwqMapping> awq_layer_mappings(Gemma4Model& model, int64_t layer_index) {
  Gemma4DecoderLayer& layer = model->decoder_layers.at(size_t(layer_index));
  const std::string prefix = "layers." + std::to_string(layer_index) + ".";
  auto& attn = layer->self_attn;
  auto& mlp = layer->mlp;
  std::vector<AwqMapping> m;
  AwqMapping qkv{prefix + "input_layernorm", layer->input_layernorm->weight, {prefix + "self_attn.q_proj"}, {attn->q_proj}};
  if (attn->k_proj) qkv.balance_names.push_back(prefix + "self_attn.k_proj"), qkv.balance.push_back(attn->k_proj);
  if (attn->v_proj) qkv.balance_names.push_back(prefix + "self_attn.v_proj"), qkv.balance.push_back(attn->v_proj);
  m.push_back(qkv);
  // up -> down before norm -> gate/up: the second search then reads up's weight as folded; neither
  // fold changes the other's input in float, so both Hessians of the one pass stay valid.
  m.push_back({prefix + "mlp.up_proj", mlp->up_proj->weight, {prefix + "mlp.down_proj"}, {mlp->down_proj}});
  m.push_back({prefix + "pre_feedforward_layernorm", layer->pre_feedforward_layernorm->weight,
               {prefix + "mlp.gate_proj", prefix + "mlp.up_proj"}, {mlp->gate_proj, mlp->up_proj}});
  return m;
}

void awq_fold(const AwqMapping& m, const at::Tensor& scale) {
  at::NoGradGuard ng;
  at::Tensor smooth = m.smooth;
  const at::Tensor s = scale.to(smooth.device()).to(at::kFloat);
  if (smooth.dim() == 1) smooth.div_(s);
  else smooth.div_(s.unsqueeze(1));  // a Linear's output rows
  for (const QLinear& b : m.balance) b->weight.mul_(s.unsqueeze(0));
}

std::vector<AwqMappingReport> awq_smooth_model(Gemma4Model& model, const ResolvedRecipe& recipe, const TokenWindows& calib,
                                               int64_t batch_size, int64_t max_batches, const AwqOptions& opt,
                                               const std::function<void(int64_t, int64_t)>& progress) {
  if (calib.count() == 0) throw FormatError("awq: the calibration data holds no window");
  at::NoGradGuard ng;
  // Each Linear's RTN scheme as the recipe assigns it, then the model back in float for the passes.
  ResolvedRecipe weights_only = weight_schemes_only(recipe);
  weights_only.learnable_scales = false;
  quantize_model(model, weights_only);
  std::map<const QLinearImpl*, quant::WeightScheme> schemes;
  for (const auto& item : model->named_modules("", /*include_self=*/false))
    if (auto lin = std::dynamic_pointer_cast<QLinearImpl>(item.value()))
      if (auto q = std::dynamic_pointer_cast<WeightQuantizer>(lin->weight_quant.get())) schemes[lin.get()] = q->scheme();
  remove_quantization(model);
  model->eval();

  int64_t batches = (calib.count() + batch_size - 1) / batch_size;
  if (max_batches > 0) batches = std::min(batches, max_batches);
  const int64_t L = model->config().L();
  std::vector<AwqMappingReport> report;
  for (int64_t i = 0; i < L; ++i) {
    std::vector<AwqMapping> maps = awq_layer_mappings(model, i);
    std::vector<std::shared_ptr<InputStatsCollector>> stats;
    for (AwqMapping& m : maps) {
      stats.push_back(std::make_shared<InputStatsCollector>(m.balance.front()->weight.size(1)));
      m.balance.front()->input_quant.set(stats.back());  // the balance Linears share this input
    }
    forward_calibration(model, calib, batch_size, batches);
    for (size_t k = 0; k < maps.size(); ++k) {
      AwqMapping& m = maps[k];
      m.balance.front()->input_quant.set(nullptr);
      AwqMappingReport r{m.smooth_name, m.balance_names, stats[k]->rows(), false, 0, 0, 0};
      std::vector<AwqBalance> balance;
      bool quantized = false;
      for (const QLinear& b : m.balance) {
        auto it = schemes.find(b.get());
        balance.push_back({b->weight, it == schemes.end() ? std::nullopt : std::optional<quant::WeightScheme>(it->second)});
        quantized = quantized || it != schemes.end();
      }
      if (r.samples > 0 && quantized) {
        const AwqSearchResult s = awq_search(balance, stats[k]->abs_mean(), stats[k]->hessian(), opt);
        r.searched = true, r.ratio = s.ratio, r.loss_rtn = s.loss_rtn, r.loss_awq = s.loss_awq;
        awq_fold(m, s.scale);
      }
      stats[k].reset();
      report.push_back(r);
    }
    if (progress) progress(i + 1, L);
  }
  return report;
}

}  // namespace gq
