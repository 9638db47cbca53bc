// Static activation and KV-cache fake quantization in the engine, at the points the fake-quant
// model (qat/gemma4_model.cpp) applies them: a Linear's (or the head's) input before the matmul and
// its output after it, with the module's static scale (quant::fake_quant_activation, the torch-free
// twin of qat's); K after RoPE and V after its norm, per (token, head) row of head_dim values
// (quant::fake_quant_kv), before they enter the cache. A native file states both
// (engine/native_weights.h); other sources have none and compute in plain float32.
#pragma once
#include <map>
#include <optional>
#include <string>

#include "engine/channel_linear.h"
#include "engine/ops.h"
#include "formats/native_format.h"
#include "quant/scheme.h"

namespace gq::engine {

struct ActivationQuantization {
  std::map<std::string, native::ModuleActivations> modules;  // Linear or "lm_head" -> static scales
  std::optional<quant::KvScheme> kv_cache;
  // Fast mode on a native file (engine/native_packed.h): module -> its weight kept packed; such a
  // module's Linear runs the integer kernel (engine/channel_linear.h) instead of the float matmul.
  std::map<std::string, PackedChannelWeight> packed;

  const native::ModuleActivations* find(const std::string& module) const {
    auto it = modules.find(module);
    return it == modules.end() ? nullptr : &it->second;
  }
};

// `module`'s Linear ("layers.0.mlp.up_proj", weight module + ".weight") on x, with its input and
// output quantization when the weights state one.
Matrix quantized_linear(const ModelWeights& w, const Matrix& x, const std::string& module);
// The same with the weight given (the head: "lm_head" and ModelWeights::head()).
Matrix quantized_linear(const ModelWeights& w, const Matrix& x, const std::string& module, const Tensor& weight);

// K or V rows [T, kv_heads * head_dim] as the cache holds them, in place (nothing without a KV scheme).
void quantize_kv(const ModelWeights& w, Matrix& kv, int64_t head_dim);

}  // namespace gq::engine
