#include "engine/activation_quant.h"

#include <vector>

#include "quant/activation.h"
#include "quant/kv.h"

namespace gq::engine {
namespace {

void fake_quant(const native::ActivationQuant& a, Matrix& m) {
  std::vector<float> y(size_t(m.size()));
  quant::fake_quant_activation(a.scheme, a.params, m.data(), y.data(), m.size());
  std::copy(y.begin(), y.end(), m.data());
}

}  // namespace

Matrix quantized_linear(const ModelWeights& w, const Matrix& x, const std::string& module) {
  return quantized_linear(w, x, module, w.get(module + ".weight"));
}

Matrix quantized_linear(const ModelWeights& w, const Matrix& x, const std::string& module, const Tensor& weight) {
  const ActivationQuantization* aq = w.activation_quantization();
  const native::ModuleActivations* m = aq ? aq->find(module) : nullptr;
  if (!m) return linear(x, weight);
  Matrix y;
  const auto packed = aq->packed.find(module);
  if (packed != aq->packed.end()) {
    y = channel_linear(x, packed->second, m->input->scheme, m->input->params, selected_isa());
  } else if (m->input) {
    Matrix q = x;
    fake_quant(*m->input, q);
    y = linear(q, weight);
  } else {
    y = linear(x, weight);
  }
  if (m->output) fake_quant(*m->output, y);
  return y;
}

void quantize_kv(const ModelWeights& w, Matrix& kv, int64_t head_dim) {
  const ActivationQuantization* aq = w.activation_quantization();
  if (!aq || !aq->kv_cache || kv.size() == 0) return;
  std::vector<float> y(size_t(kv.size()));
  quant::fake_quant_kv(*aq->kv_cache, kv.data(), y.data(), kv.size() / head_dim, head_dim);
  std::copy(y.begin(), y.end(), kv.data());
}

}  // namespace gq::engine
