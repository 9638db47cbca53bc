#include "engine/weights.h"

#include "engine/activation_quant.h"
#include "engine/dequantize.h"
#include "engine/gguf_config.h"
#include "engine/gguf_names.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "io/error.h"
#include "model/checkpoint_layout.h"
#include "model/gemma4_tensors.h"

namespace gq::engine {

namespace {

// A GGUF tensor's ne is the PyTorch shape reversed (no tensor is transposed, §5.3).
std::vector<int64_t> torch_shape(const GgufTensorInfo& t) { return std::vector<int64_t>(t.ne.rbegin(), t.ne.rend()); }

// layer_scalar may be left out (HF and llama.cpp then use 1); the k/v of KV-shared layers are never
// read and our exporter drops them.
bool may_be_absent(const TensorSpec& s) { return s.unused || ends_with(s.name, ".layer_scalar"); }

}  // namespace

ModelWeights ModelWeights::load_safetensors(const std::string& dir) {
  ModelWeights w;
  w.config_ = Gemma4Config::load(dir);
  const Checkpoint ckpt = Checkpoint::open(dir);
  w.source_ = ckpt.path();
  const std::string prefix = detect_prefix(w.config_, ckpt);
  for (const TensorSpec& spec : gemma4_tensor_specs(w.config_)) {
    // find_spec_tensor throws naming the checkpoint and tensor on a missing or misshapen tensor.
    const TensorView* tv = find_spec_tensor(ckpt, spec, stored_name(prefix, spec.name));
    if (!tv || spec.unused) continue;
    require_float_tensor(*tv);
    w.tensors_[spec.name] = Tensor{spec.shape, tv->to_f32()};
  }
  return w;
}

ModelWeights ModelWeights::load_gguf(const std::string& path, const Gemma4Config& cfg, WeightForm form) {
  return from_gguf(GgufFile::open(path), cfg, form);
}

ModelWeights ModelWeights::load_gguf(const std::string& path, WeightForm form) {
  const GgufFile file = GgufFile::open(path);
  return from_gguf(file, gemma4_config_from_gguf(file), form);
}

ModelWeights ModelWeights::from_gguf(const GgufFile& file, const Gemma4Config& cfg, WeightForm form) {
  ModelWeights w;
  w.config_ = cfg;
  w.source_ = file.source();
  w.form_ = form;
  const std::string& path = file.source();
  if (const GgufValue* arch = file.find("general.architecture"); arch && arch->type() == GgufType::STRING &&
                                                                  arch->as_str() != "gemma4")
    throw FormatError(path + ": general.architecture is '" + arch->as_str() + "', not gemma4");
  auto load = [&](const std::string& hf_name, const std::vector<int64_t>& shape, const GgufTensorInfo& t) {
    if (torch_shape(t) != shape)
      throw FormatError(path + ": tensor '" + t.name + "' (" + hf_name + ") has shape " + shape_str(torch_shape(t)) +
                        ", but the config implies " + shape_str(shape));
    // Fast mode's quantized tensors, and in either mode the per-layer embedding table (only looked
    // up by token, a row dequantized as a whole tensor's would be), are read in place from the
    // mapped file: no copy, and only the pages of rows used become resident.
    if ((form == WeightForm::Fast && is_block_quantized(t.type)) || hf_name == "embed_tokens_per_layer.weight") {
      require_decodable(t.type, t.numel(), path + ": tensor '" + t.name + "'");
      Tensor& packed = w.tensors_[hf_name];
      packed.shape = shape;
      packed.packed_type = t.type;
      packed.mapped = file.tensor_data(t);
      packed.mapped_size = size_t(ggml_row_bytes(t.type, shape.back())) * size_t(t.numel() / shape.back());
      packed.mapping = file.storage();
      return;
    }
    w.tensors_[hf_name] = Tensor{shape, dequantize_tensor(file, t)};
  };
  for (const TensorSpec& spec : gemma4_tensor_specs(cfg)) {
    const std::string name = gguf_tensor_name(spec.name);
    if (name.empty()) throw FormatError("internal: no GGUF name for '" + spec.name + "'");
    const GgufTensorInfo* t = file.find_tensor(name);
    if (!t) {
      if (may_be_absent(spec)) continue;
      throw FormatError(path + ": missing tensor '" + name + "' (" + spec.name + ")");
    }
    if (spec.unused) continue;
    load(spec.name, spec.shape, *t);
  }
  // A recipe may give a tied head its own type: the exporter then writes a second copy of the
  // table as output.weight, and llama.cpp projects with that copy, so the engine does too.
  if (cfg.tie_word_embeddings)
    if (const GgufTensorInfo* t = file.find_tensor("output.weight"))
      load("lm_head.weight", {cfg.vocab_size, cfg.hidden_size}, *t);
  return w;
}

ModelWeights ModelWeights::from_tensors(Gemma4Config cfg, std::string source, std::map<std::string, Tensor> tensors) {
  ModelWeights w;
  w.config_ = std::move(cfg);
  w.source_ = std::move(source);
  w.tensors_ = std::move(tensors);
  return w;
}

size_t ModelWeights::bytes() const {
  size_t n = 0;
  for (const auto& [name, t] : tensors_) n += t.bytes();
  if (activation_quant_)
    for (const auto& [module, p] : activation_quant_->packed) n += p.bytes();
  return n;
}

size_t ModelWeights::mapped_bytes() const {
  size_t n = 0;
  for (const auto& [name, t] : tensors_) n += t.mapped_bytes();
  return n;
}

const Tensor* ModelWeights::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const Tensor& ModelWeights::get(const std::string& name) const {
  const Tensor* t = find(name);
  if (!t) throw FormatError(source_ + ": no tensor '" + name + "'");
  return *t;
}

const Tensor& ModelWeights::head() const {
  const Tensor* h = find("lm_head.weight");
  return h ? *h : get("embed_tokens.weight");
}

}  // namespace gq::engine
