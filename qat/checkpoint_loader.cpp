#include "qat/checkpoint_loader.h"

#include <filesystem>
#include <map>
#include <set>

#include <ATen/ATen.h>

#include "io/error.h"
#include "model/gemma4_tensors.h"
#include "formats/safetensors.h"

namespace gq {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// The text weights' prefix: the config's, unless the checkpoint plainly uses the other layout.
std::string detect_prefix(const Gemma4Config& cfg, const Checkpoint& ckpt) {
  const std::string mm = "model.language_model.", lm = "model.";
  if (ckpt.has(cfg.weight_prefix + "embed_tokens.weight")) return cfg.weight_prefix;
  if (ckpt.has(mm + "embed_tokens.weight")) return mm;
  if (ckpt.has(lm + "embed_tokens.weight")) return lm;
  return cfg.weight_prefix;
}

}  // namespace

LoadReport load_weights(Gemma4Model& model, const Checkpoint& ckpt) {
  const Gemma4Config& cfg = model->config();
  LoadReport rep;
  rep.prefix = detect_prefix(cfg, ckpt);

  std::map<std::string, at::Tensor> slots;
  for (const auto& kv : model->named_parameters(/*recurse=*/true)) slots[kv.key()] = kv.value();
  for (const auto& kv : model->named_buffers(/*recurse=*/true)) slots[kv.key()] = kv.value();

  auto stored_name = [&](const std::string& n) { return n == "lm_head.weight" ? n : rep.prefix + n; };
  std::set<std::string> known;
  at::NoGradGuard no_grad;
  for (const TensorSpec& spec : gemma4_tensor_specs(cfg)) {
    const std::string name = stored_name(spec.name);
    known.insert(name);
    if (!ckpt.has(name)) {
      if (spec.unused) continue;
      if (spec.name.size() >= 12 && spec.name.compare(spec.name.size() - 12, 12, "layer_scalar") == 0) continue;  // absent = 1
      throw FormatError(ckpt.path() + ": tensor '" + name + "' is missing (expected shape " + shape_str(spec.shape) + ")");
    }
    const TensorView& tv = ckpt.tensor(name);
    if (tv.shape != spec.shape)
      throw FormatError(tv.file + ": tensor '" + name + "' has shape " + shape_str(tv.shape) + ", config implies " +
                        shape_str(spec.shape));
    if (spec.unused) {
      rep.skipped.push_back(name);
      continue;
    }
    auto it = slots.find(spec.name);
    if (it == slots.end()) throw FormatError("internal: model has no slot for '" + spec.name + "'");
    at::Tensor dst = it->second;
    if (dst.scalar_type() == at::kFloat && dst.is_contiguous() && dst.device().is_cpu()) {
      tv.to_f32(dst.data_ptr<float>());
    } else {
      at::Tensor tmp = at::empty(dst.sizes(), at::kFloat);
      tv.to_f32(tmp.data_ptr<float>());
      dst.copy_(tmp);
    }
    ++rep.loaded;
  }
  for (const std::string& n : ckpt.names()) {
    if (known.count(n)) continue;
    if (starts_with(n, rep.prefix) && !(rep.prefix == "model." && starts_with(n, "model.language_model.")) &&
        !(rep.prefix == "model." && (starts_with(n, "model.vision_") || starts_with(n, "model.audio_") ||
                                     starts_with(n, "model.embed_vision") || starts_with(n, "model.embed_audio"))))
      throw FormatError(ckpt.path() + ": tensor '" + n + "' is not part of a Gemma 4 text model with this config");
    ++rep.ignored_other;
  }
  return rep;
}

std::string resolve_checkpoint_dir(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path ck = fs::path(path) / "checkpoint";
  if (fs::is_regular_file(ck / "config.json", ec) && !fs::exists(fs::path(path) / "config.json", ec)) return ck.string();
  return path;
}

Gemma4Model load_model(const std::string& path, LoadReport* report) {
  const std::string dir = resolve_checkpoint_dir(path);
  const Gemma4Config cfg = Gemma4Config::load(dir);
  const Checkpoint ckpt = Checkpoint::open(dir);
  Gemma4Model model(cfg);
  LoadReport rep = load_weights(model, ckpt);
  if (report) *report = rep;
  model->eval();
  return model;
}

}  // namespace gq
