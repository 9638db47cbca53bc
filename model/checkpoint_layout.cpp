#include "model/checkpoint_layout.h"

#include <map>

#include "io/error.h"

namespace gq {

std::string detect_prefix(const Gemma4Config& cfg, const Checkpoint& ckpt) {
  for (const std::string& p : {cfg.weight_prefix, std::string(kMultimodalTextPrefix), std::string(kTextPrefix)})
    if (ckpt.has(p + "embed_tokens.weight")) return p;
  return cfg.weight_prefix;
}

std::string stored_name(const std::string& prefix, const std::string& spec_name) {
  return spec_name == "lm_head.weight" ? spec_name : prefix + spec_name;
}

bool is_other_tower(const std::string& n) {
  return starts_with(n, kMultimodalTextPrefix) || starts_with(n, "model.vision_") || starts_with(n, "model.audio_") ||
         starts_with(n, "model.embed_vision") || starts_with(n, "model.embed_audio");
}

const TensorView* find_spec_tensor(const Checkpoint& ckpt, const TensorSpec& spec, const std::string& stored) {
  if (!ckpt.has(stored)) {
    if (spec.unused || ends_with(spec.name, "layer_scalar")) return nullptr;
    throw FormatError(ckpt.path() + ": tensor '" + stored + "' is missing (expected shape " + shape_str(spec.shape) + ")");
  }
  const TensorView& tv = ckpt.tensor(stored);
  if (tv.shape != spec.shape)
    throw FormatError(tv.file + ": tensor '" + stored + "' has shape " + shape_str(tv.shape) + ", config implies " +
                      shape_str(spec.shape));
  return &tv;
}

std::string check_checkpoint_matches(const Gemma4Config& cfg, const Checkpoint& ckpt) {
  const std::string prefix = detect_prefix(cfg, ckpt);
  for (const TensorSpec& spec : gemma4_tensor_specs(cfg))
    if (const TensorView* tv = find_spec_tensor(ckpt, spec, stored_name(prefix, spec.name))) require_float_tensor(*tv);
  return prefix;
}

void require_float_tensor(const TensorView& tv) {
  if (!dtype_is_float(tv.dtype))
    throw FormatError(tv.file + ": tensor '" + tv.name + "' has dtype " + dtype_name(tv.dtype) + ", expected a float type");
}

size_t count_other_tensors(const Checkpoint& ckpt, const std::string& prefix, const std::set<std::string>& known) {
  size_t others = 0;
  for (const std::string& n : ckpt.names()) {
    if (known.count(n)) continue;
    if (starts_with(n, prefix) && !(prefix == kTextPrefix && is_other_tower(n)))
      throw FormatError(ckpt.path() + ": tensor '" + n + "' is not part of a Gemma 4 text model with this config");
    ++others;
  }
  return others;
}

const char* hf_dtype_name(DType t) { return t == DType::F32 ? "float32" : t == DType::F16 ? "float16" : "bfloat16"; }

DType config_float_dtype(const Gemma4Config& cfg) {
  if (cfg.dtype == "float32") return DType::F32;
  if (cfg.dtype == "float16") return DType::F16;
  return DType::BF16;
}

DType checkpoint_float_dtype(const Gemma4Config& cfg, const Checkpoint& ckpt) {
  const std::string prefix = detect_prefix(cfg, ckpt);
  std::map<DType, int64_t> elements;
  for (const TensorSpec& s : gemma4_tensor_specs(cfg)) {
    const std::string name = stored_name(prefix, s.name);
    if (s.shape.size() < 2 || !ckpt.has(name)) continue;
    const TensorView& tv = ckpt.tensor(name);
    if (dtype_is_float(tv.dtype)) elements[tv.dtype] += tv.numel();
  }
  DType best = config_float_dtype(cfg);
  int64_t most = 0;
  for (const auto& [t, n] : elements)
    if (n > most) best = t, most = n;
  return best;
}

TensorView row_slice(const TensorView& v, int64_t cols, int64_t row0, int64_t n) {
  TensorView s = v;
  const size_t es = dtype_size(v.dtype);
  s.data = v.data + size_t(row0 * cols) * es;
  s.shape = {n, cols};
  s.nbytes = size_t(n * cols) * es;
  return s;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

}  // namespace gq
