#include "qat/fake_quant_ops.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "io/error.h"
#include "quant/activation.h"
#include "quant/ggml_types.h"
#include "quant/kv.h"
#include "quant/q4_0.h"
#include "quant/rounding.h"
#include "quant/uniform.h"
#include "quant/weight.h"

namespace gq {
namespace {

using quant::Rounding;
using quant::WeightKind;
using quant::WeightScheme;

// Rows per at::parallel_for piece for a pass over [rows, cols] values: about 16k values a piece.
int64_t values_grain_rows(int64_t cols) { return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, cols)); }

// 1.0f where the bit of a value is set, else 0.0f: [rows, cols] from [rows, cols / 32] words.
at::Tensor expand_in_range_bits(const at::Tensor& bits, int64_t rows, int64_t cols) {
  return apply_in_range_bits(at::ones({rows, cols}, bits.options().dtype(at::kFloat)), bits);
}

// The rounding helpers of quant/rounding.h, in tensor form (same operations, so the same floats);
// "+ 0.0" turns -0 into +0 as an integer code decoded by a runtime would.
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

// ggml's RTN block scale d (fp32, before its fp16 storage), [rows, blocks, 1].
at::Tensor gguf_rtn_d(const WeightScheme& s, const at::Tensor& xb) {
  switch (s.kind) {
    case WeightKind::kQ4_0: return xb.gather(-1, xb.abs().argmax(-1, true)) / -8.0;  // signed max, first on ties
    case WeightKind::kQ8_0: return xb.abs().amax(-1, true) / 127.0;
    case WeightKind::kQ2_0: return xb.abs().amax(-1, true);
    default: break;
  }
  TORCH_CHECK(false, "not a GGUF block scheme");
  return at::Tensor();
}

// ggml's RTN block quantizers: codes from the fp32 d (multiplying by 1/d), values from fp16(d).
at::Tensor gguf_rtn(const WeightScheme& s, const at::Tensor& xb, at::Tensor* grad_mask) {
  const at::Tensor d = gguf_rtn_d(s, xb);
  at::Tensor level, keep;
  switch (s.kind) {
    case WeightKind::kQ4_0: {
      const at::Tensor v = xb * safe_reciprocal(d) + 8.5;
      const at::Tensor c = at::trunc(v).clamp_max(15.0);
      level = c - 8.0;
      if (grad_mask) keep = (v < 16.0).to(at::kFloat);
      break;
    }
    case WeightKind::kQ8_0:
      level = round_as(xb * safe_reciprocal(d), Rounding::kHalfAway);
      break;
    case WeightKind::kQ2_0:
      level = round_as(xb * safe_reciprocal(d), Rounding::kHalfAway).clamp(-1.0, 2.0);
      break;
    default:
      TORCH_CHECK(false, "not a GGUF block scheme");
  }
  if (grad_mask) *grad_mask = keep.defined() ? keep : at::ones_like(xb);
  const at::Tensor d16 = d.to(at::kHalf).to(at::kFloat);
  if (d16.isinf().any().item<bool>())
    throw FormatError(quant::weight_scheme_name(s) + ": a block scale overflows fp16; the values are too large for this scheme");
  return level * d16;  // the product keeps its sign: level 0 with a negative d decodes to -0, as in ggml
}

// Q4_0 RTN on the CPU in one pass: the values and the gradient mask (what ggml's rule clamps:
// x/d + 8.5 >= 16, with d = signed max / -8) from quant::fake_quant_q4_0_in_range_bits, one bit per
// value ([rows, cols / 32] int32). A dozen tensor ops per weight would cost more than the matmuls of
// a small model. Rows are independent, so pieces of rows run on LibTorch's intra-op threads like the
// matmuls around them (single-threaded, this pass made a QAT step 1.36-1.49x a plain one at 2
// threads). A piece that fails (NaN / Inf) is redone on the whole tensor so the error names the
// tensor's own row. 32 divides cols.
at::Tensor q4_0_rtn_cpu(const at::Tensor& w, at::Tensor* in_range_bits) {
  const at::Tensor x = w.contiguous();
  const int64_t rows = x.size(0), cols = x.size(1), words = cols / quant::kQ4_0Block;
  at::Tensor y = at::empty_like(x);
  at::Tensor bits = at::empty({rows, words}, x.options().dtype(at::kInt));
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  uint32_t* bp = reinterpret_cast<uint32_t*>(bits.data_ptr<int32_t>());
  std::atomic<bool> failed{false};
  at::parallel_for(0, rows, values_grain_rows(cols), [&](int64_t r0, int64_t r1) {
    try {
      quant::fake_quant_q4_0_in_range_bits(xp + r0 * cols, yp + r0 * cols, bp + r0 * words, r1 - r0, cols);
    } catch (const std::exception&) {
      failed = true;
    }
  });
  if (failed) quant::fake_quant_weight(quant::q4_0_scheme(), xp, yp, rows, cols);  // throws, naming the row
  if (in_range_bits) *in_range_bits = bits;
  return y;
}

}  // namespace

at::Tensor round_to_dtype(const at::Tensor& x, DType dt) {
  switch (dt) {
    case DType::F16: return x.to(at::kHalf).to(at::kFloat);
    case DType::BF16: return x.to(at::kBFloat16).to(at::kFloat);
    default: return x;
  }
}

namespace {

bool q4_0_cpu_path(const WeightScheme& s, const at::Tensor& w) {
  return s.kind == WeightKind::kQ4_0 && w.device().is_cpu() && w.scalar_type() == at::kFloat && w.dim() == 2 &&
         w.size(1) % quant::kQ4_0Block == 0;
}

}  // namespace

at::Tensor fake_quant_weight_rtn(const WeightScheme& s, const at::Tensor& w, at::Tensor* grad_mask) {
  if (q4_0_cpu_path(s, w)) {
    at::Tensor bits;
    at::Tensor y = q4_0_rtn_cpu(w, grad_mask ? &bits : nullptr);
    if (grad_mask) *grad_mask = expand_in_range_bits(bits, w.size(0), w.size(1));
    return y;
  }
  // A few rows without a mask (inference: the embedding rows a decoded token gathers, every step):
  // the codec itself (the reference the tensor ops are tested against) costs less than the tensor
  // ops' temporaries there. A whole weight keeps the tensor ops (threaded).
  constexpr int64_t kCodecValues = int64_t(1) << 14;
  if (!grad_mask && w.device().is_cpu() && w.scalar_type() == at::kFloat && w.dim() == 2 && w.numel() <= kCodecValues) {
    const at::Tensor x = w.contiguous();
    at::Tensor y = at::empty_like(x);
    try {
      quant::fake_quant_weight(s, x.data_ptr<float>(), y.data_ptr<float>(), x.size(0), x.size(1));
      return y;
    } catch (const std::exception&) {
      // NaN / Inf or a scale the codec refuses: the tensor ops give torch's answer (or its error).
    }
  }
  return fake_quant_weight_rtn_tensor_ops(s, w, grad_mask);
}

RtnWithMask fake_quant_weight_rtn_with_mask(const WeightScheme& s, const at::Tensor& w) {
  RtnWithMask r;
  if (q4_0_cpu_path(s, w)) {
    r.y = q4_0_rtn_cpu(w, &r.in_range_bits);
    return r;
  }
  r.y = fake_quant_weight_rtn_tensor_ops(s, w, &r.in_range);
  return r;
}

at::Tensor apply_in_range_bits(const at::Tensor& g, const at::Tensor& in_range_bits) {
  TORCH_CHECK(g.device().is_cpu() && g.scalar_type() == at::kFloat && in_range_bits.scalar_type() == at::kInt &&
                  g.numel() == in_range_bits.numel() * quant::kQ4_0Block,
              "apply_in_range_bits: float32 CPU values and their int32 words of 32 bits");
  const at::Tensor gc = g.contiguous(), bits = in_range_bits.contiguous();
  at::Tensor out = at::empty_like(gc);
  const float* gp = gc.data_ptr<float>();
  const uint32_t* bp = reinterpret_cast<const uint32_t*>(bits.data_ptr<int32_t>());
  float* op = out.data_ptr<float>();
  // Pieces of whole words: ~16k values each, on the intra-op threads.
  at::parallel_for(0, bits.numel(), 512, [&](int64_t w0, int64_t w1) {
    quant::q4_0_apply_in_range_bits(gp + w0 * quant::kQ4_0Block, bp + w0, op + w0 * quant::kQ4_0Block,
                                    (w1 - w0) * quant::kQ4_0Block);
  });
  return out;
}

at::Tensor fake_quant_weight_rtn_tensor_ops(const WeightScheme& s, const at::Tensor& w, at::Tensor* grad_mask) {
  const at::Tensor xb = blocks(w.to(at::kFloat), s.block_size(w.size(1)));
  if (s.is_gguf()) {
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
  const at::Tensor xb = blocks(w.to(at::kFloat), s.block_size(w.size(1)));
  if (s.is_gguf()) {
    // A learned scale is a normal fp16 of ggml's sign: a block whose d is below the smallest normal
    // (an all-zero block: +) starts there.
    const at::Tensor d = gguf_rtn_d(s, xb);
    const float tiny = quant::scale_tiny(DType::F16);
    const at::Tensor floor = at::where(d < 0, at::full_like(d, -tiny), at::full_like(d, tiny));
    return {at::where(d.abs() < tiny, floor, d).squeeze(-1), at::Tensor()};
  }
  auto [scale, z] = uniform_rtn(quant::uniform_spec(s, w.size(1)), xb);
  return {scale.squeeze(-1), z.defined() ? z.squeeze(-1) : z};
}

namespace {

// fake_quant_weight_scaled on values already seen as [rows, blocks, block] with scales [rows, blocks, 1].
ScaledFakeQuant scaled_blocks(const WeightScheme& s, const at::Tensor& xb, const at::Tensor& sb, const at::Tensor& zero_points,
                              int64_t cols) {
  ScaledFakeQuant out;
  if (s.is_gguf()) {
    const at::Tensor s16 = sb.to(at::kHalf).to(at::kFloat);
    const at::Tensor v = xb / s16;
    const at::Tensor q = round_as(v, s.rounding());
    const at::Tensor qc = q.clamp(double(s.qmin()), double(s.qmax()));
    out.y = qc * s16;
    out.in_range = (q == qc).to(at::kFloat);
    out.step_grad = qc - out.in_range * v;
    return out;
  }
  const at::Tensor zb = zero_points.defined() ? zero_points.reshape(sb.sizes()).to(at::kFloat) : at::Tensor();
  UniformResult r = uniform_apply(quant::uniform_spec(s, cols), xb, sb, zb, true);
  out.y = r.y;
  out.in_range = r.in_range;
  out.step_grad = r.step_grad;
  return out;
}

}  // namespace

ScaledFakeQuant fake_quant_weight_scaled(const WeightScheme& s, const at::Tensor& w, const at::Tensor& scales,
                                         const at::Tensor& zero_points) {
  const at::Tensor xb = blocks(w.to(at::kFloat), s.block_size(w.size(1)));
  ScaledFakeQuant out = scaled_blocks(s, xb, scales.reshape({xb.size(0), xb.size(1), 1}), zero_points, w.size(1));
  out.y = out.y.reshape(w.sizes());
  return out;
}

at::Tensor fake_quant_weight_with_scales(const WeightScheme& s, const at::Tensor& w, const at::Tensor& scales,
                                         const at::Tensor& zero_points, int64_t cols) {
  TORCH_CHECK(w.dim() == 2 && scales.sizes() == w.sizes(), "fake_quant_weight_with_scales: w and scales must be [rows, n]");
  const at::Tensor xb = w.to(at::kFloat).reshape({w.size(0), w.size(1), 1});
  return scaled_blocks(s, xb, scales.to(at::kFloat).reshape(xb.sizes()), zero_points, cols).y.reshape(w.sizes());
}

ScaledFakeQuant fake_quant_activation_tensor(const quant::ActivationScheme& s, const at::Tensor& x,
                                             const at::Tensor& scale, int32_t zero_point) {
  if (s.compute_dtype != DType::F32) {
    const auto dt = s.compute_dtype == DType::BF16 ? at::kBFloat16 : at::kHalf;
    const at::Tensor sd = scale.reshape({1}).to(dt);
    const at::Tensor v = (x.reshape({1, 1, -1}).to(dt) / sd).to(at::kFloat);
    // round / clamp of a bf16 (f16) value are exact in float32 and land on values bf16 (f16) holds:
    // the same numbers as torch's ops in that dtype (LibTorch's CPU round has no Half kernel).
    const at::Tensor q = at::round(v);
    const at::Tensor qc = q.clamp(double(s.qmin()), double(s.qmax()));
    ScaledFakeQuant r;
    r.y = (qc.to(dt) * sd).to(at::kFloat).reshape(x.sizes());
    r.in_range = (q == qc).to(at::kFloat);
    r.step_grad = qc - r.in_range * v;
    return r;
  }
  const quant::UniformSpec u = quant::uniform_spec(s, x.numel());
  const at::Tensor xb = x.reshape({1, 1, -1});
  const at::Tensor z = at::full({1, 1, 1}, float(zero_point), x.options().dtype(at::kFloat));
  UniformResult r = uniform_apply(u, xb, scale.reshape({1, 1, 1}), z, true);
  return {r.y.reshape(x.sizes()), r.in_range, r.step_grad};
}

at::Tensor fake_quant_activation_cpu(const quant::ActivationScheme& s, const at::Tensor& x, float scale, int32_t zero_point) {
  if (!x.device().is_cpu() || x.scalar_type() != at::kFloat) return {};
  const at::Tensor xc = x.contiguous();
  at::Tensor y = at::empty_like(xc);
  const float* xp = xc.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const quant::ActivationParams p{scale, zero_point};
  std::atomic<bool> failed{false};
  auto run = [&](int64_t b, int64_t e) {
    try {
      quant::fake_quant_activation(s, p, xp + b, yp + b, e - b);
    } catch (const std::exception&) {
      failed = true;
    }
  };
  // Value by value in the compute dtype, so pieces give the same floats; an fp32 scheme's spec is
  // built for the tensor's length, so it runs whole.
  constexpr int64_t kGrain = int64_t(1) << 14;
  if (s.compute_dtype != DType::F32 && xc.numel() > kGrain) at::parallel_for(0, xc.numel(), kGrain, run);
  else run(0, xc.numel());
  if (failed) return {};
  return y;
}

at::Tensor fake_quant_kv_tensor(const quant::KvScheme& s, const at::Tensor& x) {
  const int64_t hd = x.size(-1);
  if (s.ggml_blocks) {  // llama.cpp's cache: the Q8_0 / Q4_0 weight fake quant on [rows, head_dim]
    if (hd % 32) throw FormatError(quant::kv_scheme_name(s) + ": head_dim " + std::to_string(hd) + " is not a multiple of 32");
    return fake_quant_weight_rtn(quant::kv_block_weight_scheme(s), x.reshape({-1, hd})).reshape(x.sizes());
  }
  const quant::UniformSpec u = quant::uniform_spec(s, hd);
  const at::Tensor xb = x.reshape({-1, 1, hd});
  auto [scale, z] = uniform_rtn(u, xb);
  return uniform_apply(u, xb, scale, z, false).y.reshape(x.sizes());
}

}  // namespace gq
