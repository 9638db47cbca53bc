#include "qat/fake_quant.h"

#include <cmath>
#include <limits>
#include <sstream>

#include <torch/autograd.h>

#include "io/error.h"
#include "quant/rounding.h"
#include "quant/weight.h"

namespace gq {
namespace {

using quant::Rounding;
using quant::WeightKind;
using quant::WeightScheme;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The rounding helpers of formats/quant/rounding.h, in tensor form (same operations, so the same
// floats); "+ 0.0" turns -0 into +0 as an integer code decoded by a runtime would.
at::Tensor round_as(const at::Tensor& v, Rounding r) {
  switch (r) {
    case Rounding::kHalfEven:
      return at::round(v) + 0.0;
    case Rounding::kHalfUp: {
      const at::Tensor f = at::floor(v);
      return at::where((v - f) >= 0.5, f + 1.0, f) + 0.0;
    }
    case Rounding::kHalfAway: {
      const at::Tensor t = at::trunc(v);
      const at::Tensor away = at::where(v < 0, t - 1.0, t + 1.0);
      return at::where((v - t).abs() >= 0.5, away, t) + 0.0;
    }
  }
  return v;
}

at::Tensor round_to_dtype(const at::Tensor& s, DType dt) {
  switch (dt) {
    case DType::F16: return s.to(at::kHalf).to(at::kFloat);
    case DType::BF16: return s.to(at::kBFloat16).to(at::kFloat);
    default: return s;
  }
}

bool is_gguf_kind(WeightKind k) { return k == WeightKind::kQ4_0 || k == WeightKind::kQ8_0 || k == WeightKind::kQ2_0; }

// 1/d as ggml computes it, with 0 where d is 0 or 1/d overflows (the codec then emits level 0).
at::Tensor safe_reciprocal(const at::Tensor& d) {
  const at::Tensor inv = 1.0 / d;
  return at::where((d == 0) | inv.isinf(), at::zeros_like(inv), inv);
}

at::Tensor blocks(const at::Tensor& w, int64_t block) {
  TORCH_CHECK(w.dim() == 2, "fake quant expects [rows, cols]");
  TORCH_CHECK(w.size(1) % block == 0, "row length ", w.size(1), " is not a multiple of the block ", block);
  return w.reshape({w.size(0), w.size(1) / block, block});
}

// Uniform (channel / group / activation / KV) math on [rows, blocks, block] values.
struct UniformResult {
  at::Tensor y, in_range, step_grad;
};
UniformResult uniform_apply(const quant::UniformSpec& u, const at::Tensor& xb, const at::Tensor& s_given,
                            const at::Tensor& z, bool want_grads) {
  const at::Tensor s = round_to_dtype(s_given, u.scale_dtype);
  at::Tensor v = xb / s;
  const bool asym = u.asymmetric;
  if (asym && u.zp_before_round) v = v + z;
  at::Tensor q = round_as(v, u.rounding);
  if (asym && !u.zp_before_round) q = q + z;
  const at::Tensor qc = q.clamp(double(u.qmin), double(u.qmax));
  const at::Tensor d = asym ? qc - z : qc;
  UniformResult r;
  r.y = round_to_dtype(d * s, u.scale_dtype);
  if (want_grads) {
    r.in_range = (q == qc).to(at::kFloat);
    r.step_grad = d - r.in_range * (xb / s);
  }
  return r;
}

std::pair<at::Tensor, at::Tensor> uniform_rtn(const quant::UniformSpec& u, const at::Tensor& xb) {
  const float tiny = quant::scale_tiny(u.scale_dtype);
  auto finish = [&](const at::Tensor& s) {
    const at::Tensor r = round_to_dtype(s, u.scale_dtype);
    if (r.isinf().any().item<bool>())
      throw FormatError(u.codec + ": a scale overflows its dtype; the values are too large for this scheme");
    return at::where(r < tiny, at::full_like(r, tiny), r);
  };
  if (!u.asymmetric) return {finish(xb.abs().amax(-1, true) / u.sym_divisor), at::Tensor()};
  const at::Tensor lo = xb.amin(-1, true).clamp_max(0.0), hi = xb.amax(-1, true).clamp_min(0.0);
  const at::Tensor s = finish((hi - lo) / float(u.qmax - u.qmin));
  const at::Tensor t = lo / s;
  const at::Tensor z = round_as((float(u.qmin) - t).clamp(double(u.qmin), double(u.qmax)), Rounding::kHalfEven);
  return {s, z};
}

// ggml's RTN block quantizers: codes from the fp32 d (multiplying by 1/d), values from fp16(d).
at::Tensor gguf_rtn(const WeightScheme& s, const at::Tensor& xb, at::Tensor* grad_mask) {
  at::Tensor d, level, keep;
  switch (s.kind) {
    case WeightKind::kQ4_0: {
      const at::Tensor m = xb.gather(-1, xb.abs().argmax(-1, true));  // signed max, first on ties
      d = m / -8.0;
      const at::Tensor v = xb * safe_reciprocal(d) + 8.5;
      const at::Tensor c = at::trunc(v).clamp_max(15.0);
      level = c - 8.0;
      if (grad_mask) keep = (v < 16.0).to(at::kFloat);
      break;
    }
    case WeightKind::kQ8_0:
      d = xb.abs().amax(-1, true) / 127.0;
      level = round_as(xb * safe_reciprocal(d), Rounding::kHalfAway);
      break;
    case WeightKind::kQ2_0: {
      d = xb.abs().amax(-1, true);
      level = round_as(xb * safe_reciprocal(d), Rounding::kHalfAway).clamp(-1.0, 2.0);
      break;
    }
    default:
      TORCH_CHECK(false, "not a GGUF block scheme");
  }
  if (grad_mask) *grad_mask = keep.defined() ? keep : at::ones_like(xb);
  const at::Tensor d16 = d.to(at::kHalf).to(at::kFloat);
  if (d16.isinf().any().item<bool>())
    throw FormatError(quant::weight_scheme_name(s) + ": a block scale overflows fp16; the values are too large for this scheme");
  return level * d16;  // the product keeps its sign: level 0 with a negative d decodes to -0, as in ggml
}

int64_t block_of(const WeightScheme& s, int64_t cols) { return s.block_size(cols); }

// ---- autograd -----------------------------------------------------------------------------------

// The fake-quant values are computed before the autograd node (without grad); the node only
// routes gradients. Passing them as a plain struct keeps them out of autograd's input list.
struct Precomputed {
  at::Tensor y, in_range, step_grad;
};

// y = fake_quant(x); dy/dx = mask (STE with clipping).
struct MaskedSTE : public torch::autograd::Function<MaskedSTE> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const Precomputed& p) {
    ctx->save_for_backward({p.in_range});
    return p.y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    const at::Tensor mask = ctx->get_saved_variables()[0];
    return {mask.defined() ? g[0] * mask : g[0], at::Tensor()};
  }
};

// LSQ: x and the scale get gradients; step_grad is [rows, blocks, block] (one block per scale).
struct LsqFunction : public torch::autograd::Function<LsqFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& scale, const Precomputed& p,
                            double grad_scale) {
    ctx->save_for_backward({p.in_range, p.step_grad});
    ctx->saved_data["grad_scale"] = grad_scale;
    ctx->saved_data["scale_sizes"] = scale.sizes().vec();
    return p.y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    const auto saved = ctx->get_saved_variables();
    const double gs = ctx->saved_data["grad_scale"].toDouble();
    const auto sizes = ctx->saved_data["scale_sizes"].toIntVector();
    const at::Tensor gy = g[0].reshape(saved[1].sizes());
    const at::Tensor gx = (gy * saved[0]).reshape(g[0].sizes());
    at::Tensor gsc = (gy * saved[1]).sum(-1);  // per scale
    int64_t numel = 1;
    for (int64_t d : sizes) numel *= d;
    if (numel == 1) gsc = gsc.sum();
    return {gx, (gsc * gs).reshape(sizes), at::Tensor(), at::Tensor()};
  }
};

std::string fmt(double v) {
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

}  // namespace

// ---- pure functions --------------------------------------------------------------------------------

// Q4_0 RTN on the CPU in one pass: the values come from the codec (the reference itself); the
// gradient mask marks what ggml's rule clamps (x/d + 8.5 >= 16, with d = signed max / -8). A dozen
// tensor ops per weight would cost more than the matmuls of a small model.
static at::Tensor q4_0_rtn_cpu(const at::Tensor& w, at::Tensor* grad_mask) {
  const at::Tensor x = w.contiguous();
  const int64_t rows = x.size(0), cols = x.size(1);
  at::Tensor y = at::empty_like(x);
  quant::fake_quant_weight(quant::q4_0_scheme(), x.data_ptr<float>(), y.data_ptr<float>(), rows, cols);
  if (grad_mask) {
    *grad_mask = at::empty_like(x);
    const float* xp = x.data_ptr<float>();
    float* mp = grad_mask->data_ptr<float>();
    for (int64_t b = 0; b < rows * cols; b += 32) {
      float m = 0.0f, amax = 0.0f;
      for (int64_t j = 0; j < 32; ++j)
        if (std::fabs(xp[b + j]) > amax) amax = std::fabs(xp[b + j]), m = xp[b + j];
      const float d = m / -8.0f;
      const float inv = d != 0.0f ? 1.0f / d : 0.0f;
      const float id = std::isinf(inv) ? 0.0f : inv;
      for (int64_t j = 0; j < 32; ++j) {
        const float v = xp[b + j] * id;
        mp[b + j] = (v + 8.5f) < 16.0f ? 1.0f : 0.0f;
      }
    }
  }
  return y;
}

at::Tensor fake_quant_weight_rtn(const WeightScheme& s, const at::Tensor& w, at::Tensor* grad_mask) {
  if (s.kind == WeightKind::kQ4_0 && w.device().is_cpu() && w.scalar_type() == at::kFloat && w.dim() == 2 &&
      w.size(1) % 32 == 0)
    return q4_0_rtn_cpu(w, grad_mask);
  return fake_quant_weight_rtn_tensor_ops(s, w, grad_mask);
}

at::Tensor fake_quant_weight_rtn_tensor_ops(const WeightScheme& s, const at::Tensor& w, at::Tensor* grad_mask) {
  const int64_t block = block_of(s, w.size(1));
  const at::Tensor xb = blocks(w.to(at::kFloat), block);
  if (is_gguf_kind(s.kind)) {
    at::Tensor mask;
    at::Tensor y = gguf_rtn(s, xb, grad_mask ? &mask : nullptr).reshape(w.sizes());
    if (grad_mask) *grad_mask = mask.reshape(w.sizes());
    return y;
  }
  const quant::UniformSpec u = quant::uniform_spec(s, w.size(1));
  auto [scale, z] = uniform_rtn(u, xb);
  UniformResult r = uniform_apply(u, xb, scale, z, grad_mask != nullptr);
  if (grad_mask) *grad_mask = r.in_range.reshape(w.sizes());
  return r.y.reshape(w.sizes());
}

std::pair<at::Tensor, at::Tensor> weight_rtn_params(const WeightScheme& s, const at::Tensor& w) {
  const int64_t block = block_of(s, w.size(1));
  const at::Tensor xb = blocks(w.to(at::kFloat), block);
  if (is_gguf_kind(s.kind)) {
    at::Tensor d;
    if (s.kind == WeightKind::kQ4_0) d = xb.gather(-1, xb.abs().argmax(-1, true)) / -8.0;
    else if (s.kind == WeightKind::kQ8_0) d = xb.abs().amax(-1, true) / 127.0;
    else d = xb.abs().amax(-1, true);
    // A learned scale must be a nonzero fp16: an all-zero block starts at the smallest normal.
    d = at::where(d.to(at::kHalf).to(at::kFloat) == 0, at::full_like(d, 6.103515625e-05f), d);
    return {d.squeeze(-1), at::Tensor()};
  }
  auto [scale, z] = uniform_rtn(quant::uniform_spec(s, w.size(1)), xb);
  return {scale.squeeze(-1), z.defined() ? z.squeeze(-1) : z};
}

ScaledFakeQuant fake_quant_weight_scaled(const WeightScheme& s, const at::Tensor& w, const at::Tensor& scales,
                                         const at::Tensor& zero_points) {
  const int64_t block = block_of(s, w.size(1));
  const at::Tensor xb = blocks(w.to(at::kFloat), block);
  const at::Tensor sb = scales.reshape({xb.size(0), xb.size(1), 1});
  ScaledFakeQuant out;
  if (is_gguf_kind(s.kind)) {
    const at::Tensor s16 = sb.to(at::kHalf).to(at::kFloat);
    const at::Tensor v = xb / s16;
    const at::Tensor q = round_as(v, s.rounding());
    const at::Tensor qc = q.clamp(double(s.qmin()), double(s.qmax()));
    out.y = (qc * s16).reshape(w.sizes());
    out.in_range = (q == qc).to(at::kFloat);
    out.step_grad = qc - out.in_range * v;
    return out;
  }
  const at::Tensor zb = zero_points.defined() ? zero_points.reshape(sb.sizes()).to(at::kFloat) : at::Tensor();
  UniformResult r = uniform_apply(quant::uniform_spec(s, w.size(1)), xb, sb, zb, true);
  out.y = r.y.reshape(w.sizes());
  out.in_range = r.in_range;
  out.step_grad = r.step_grad;
  return out;
}

ScaledFakeQuant fake_quant_activation_tensor(const quant::ActivationScheme& s, const at::Tensor& x,
                                             const at::Tensor& scale, int32_t zero_point) {
  const quant::UniformSpec u = quant::uniform_spec(s, x.numel());
  const at::Tensor xb = x.reshape({1, 1, -1});
  const at::Tensor z = at::full({1, 1, 1}, float(zero_point), x.options().dtype(at::kFloat));
  UniformResult r = uniform_apply(u, xb, scale.reshape({1, 1, 1}), z, true);
  return {r.y.reshape(x.sizes()), r.in_range, r.step_grad};
}

at::Tensor fake_quant_kv_tensor(const quant::KvScheme& s, const at::Tensor& x) {
  const int64_t hd = x.size(-1);
  const quant::UniformSpec u = quant::uniform_spec(s, hd);
  const at::Tensor xb = x.reshape({-1, 1, hd});
  auto [scale, z] = uniform_rtn(u, xb);
  return uniform_apply(u, xb, scale, z, false).y.reshape(x.sizes());
}

// ---- WeightQuantizer -------------------------------------------------------------------------------

WeightQuantizer::WeightQuantizer(WeightScheme scheme, const at::Tensor& init, bool learnable) : scheme_(scheme) {
  quant::validate(scheme_);
  if (!learnable) return;
  at::NoGradGuard ng;
  const at::Tensor w2 = init.reshape({-1, init.size(-1)}).detach();
  auto [s, z] = weight_rtn_params(scheme_, w2);
  scale = register_parameter("scale", s.contiguous());
  if (z.defined()) zero_point = register_buffer("zero_point", z.contiguous());
}

at::Tensor WeightQuantizer::forward(const at::Tensor& w) {
  const at::Tensor w2 = w.reshape({-1, w.size(-1)});
  if (!scale.defined()) {
    at::Tensor mask;
    at::Tensor y;
    {
      at::NoGradGuard ng;
      y = fake_quant_weight_rtn(scheme_, w2.detach(), &mask);
    }
    return MaskedSTE::apply(w2, Precomputed{y, mask, {}}).reshape(w.sizes());
  }
  ScaledFakeQuant r;
  {
    at::NoGradGuard ng;
    r = fake_quant_weight_scaled(scheme_, w2.detach(), scale.detach(), zero_point);
  }
  const int64_t per_scale = scheme_.block_size(w2.size(1));
  const double grad_scale = 1.0 / std::sqrt(double(per_scale) * double(std::max(1, scheme_.qmax())));
  return LsqFunction::apply(w2, scale, Precomputed{r.y.reshape(w2.sizes()), r.in_range, r.step_grad}, grad_scale)
      .reshape(w.sizes());
}

std::string WeightQuantizer::describe() const {
  return quant::weight_scheme_name(scheme_) + (scale.defined() ? " (learned scales)" : " (RTN)");
}

// ---- RangeObserver -------------------------------------------------------------------------------

RangeObserver::RangeObserver(std::string kind, double ema, double percentile)
    : kind_(std::move(kind)), ema_(ema), percentile_(percentile) {}

void RangeObserver::observe(const at::Tensor& x_in) {
  at::NoGradGuard ng;
  const at::Tensor x = x_in.detach().to(at::kFloat).reshape(-1);
  if (x.numel() == 0) return;
  const float lo = x.min().item<float>(), hi = x.max().item<float>();
  if (kind_ == "moving_minmax" && batches_ > 0) {
    min_ = float(ema_ * min_ + (1 - ema_) * lo);
    max_ = float(ema_ * max_ + (1 - ema_) * hi);
  } else if (batches_ == 0) {
    min_ = lo, max_ = hi;
  } else {
    min_ = std::min(min_, lo), max_ = std::max(max_, hi);
  }
  if (kind_ == "percentile" || kind_ == "mse") {
    // Keep a bounded random sample: enough for the 99.99th percentile and for an MSE search.
    constexpr int64_t kKeep = 1 << 18;
    const auto long_on_device = x.options().dtype(at::kLong);
    at::Tensor pick = x.numel() > kKeep ? x.index_select(0, at::randint(x.numel(), {kKeep}, long_on_device)) : x;
    sample_ = sample_.defined() ? at::cat({sample_, pick}) : pick.clone();
    if (sample_.numel() > 4 * kKeep)
      sample_ = sample_.index_select(0, at::randint(sample_.numel(), {kKeep}, long_on_device));
  }
  ++batches_;
}

std::pair<float, float> RangeObserver::range(const quant::ActivationScheme& scheme) const {
  if (kind_ == "percentile" && sample_.defined()) {
    const double q = percentile_ / 100.0;
    const float lo = at::quantile(sample_, 1.0 - q).item<float>();
    const float hi = at::quantile(sample_, q).item<float>();
    return {std::min(lo, 0.0f), std::max(hi, 0.0f)};
  }
  if (kind_ == "mse" && sample_.defined()) {
    // Shrink the min/max range by a factor in [0.3, 1] and keep the one with the least error.
    float best_a = 1.0f;
    double best_err = std::numeric_limits<double>::infinity();
    for (int i = 0; i <= 70; ++i) {
      const float a = 1.0f - 0.01f * float(i);
      const quant::ActivationParams p = quant::activation_params_from_range(scheme, min_ * a, max_ * a);
      const at::Tensor y =
          fake_quant_activation_tensor(scheme, sample_, at::full({1}, p.scale, at::kFloat), p.zero_point).y;
      const double err = (y - sample_).pow(2).mean().item<double>();
      if (err < best_err) best_err = err, best_a = a;
    }
    return {min_ * best_a, max_ * best_a};
  }
  return {min_, max_};
}

// ---- ActivationQuantizer -------------------------------------------------------------------------

ActivationQuantizer::ActivationQuantizer(quant::ActivationScheme scheme, std::string observer_kind, bool learnable)
    : observer(std::move(observer_kind)), scheme_(scheme), learnable_(learnable) {
  quant::validate(scheme_);
  scale = learnable ? register_parameter("scale", at::ones({1}, at::kFloat)) : register_buffer("scale", at::ones({1}, at::kFloat));
}

void ActivationQuantizer::set_params(const quant::ActivationParams& p) {
  at::NoGradGuard ng;
  scale.fill_(p.scale);
  zero_point_ = p.zero_point;
  calibrated_ = true;
}

bool ActivationQuantizer::finish_calibration() {
  if (!observer.seen()) return false;
  observed_range = observer.range(scheme_);
  set_params(quant::activation_params_from_range(scheme_, observed_range.first, observed_range.second));
  return true;
}

quant::ActivationParams ActivationQuantizer::params() const {
  return quant::ActivationParams{scale.item<float>(), zero_point_};
}

at::Tensor ActivationQuantizer::forward(const at::Tensor& x) {
  if (observing_) observer.observe(x);
  if (observing_ || !calibrated_) return x;
  ScaledFakeQuant r;
  {
    at::NoGradGuard ng;
    r = fake_quant_activation_tensor(scheme_, x.detach(), scale.detach(), zero_point_);
  }
  if (!learnable_) return MaskedSTE::apply(x, Precomputed{r.y, r.in_range.reshape(x.sizes()), {}});
  const double grad_scale = 1.0 / std::sqrt(double(x.numel()) * double(scheme_.qmax()));
  return LsqFunction::apply(x, scale, Precomputed{r.y, r.in_range, r.step_grad}, grad_scale);
}

std::string ActivationQuantizer::describe() const {
  std::string d = quant::activation_scheme_name(scheme_) + " static";
  if (calibrated_) d += " (scale " + fmt(scale.item<double>()) + (zero_point_ ? ", zero point " + std::to_string(zero_point_) : "") + ")";
  else d += " (not calibrated: pass-through)";
  return d + (learnable_ ? ", learnable" : "");
}

// ---- KvQuantizer -----------------------------------------------------------------------------------

KvQuantizer::KvQuantizer(quant::KvScheme scheme) : scheme_(scheme) { quant::validate(scheme_); }

at::Tensor KvQuantizer::forward(const at::Tensor& x) {
  if (observing_) observer.observe(x);
  at::Tensor y;
  {
    at::NoGradGuard ng;
    y = fake_quant_kv_tensor(scheme_, x.detach());
  }
  // The per-row scale follows the row's max, so nothing clips: a plain straight-through gradient.
  return MaskedSTE::apply(x, Precomputed{y, {}, {}});
}

std::string KvQuantizer::describe() const { return quant::kv_scheme_name(scheme_) + " per (token, head)"; }

}  // namespace gq
