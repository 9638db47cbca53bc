#include "qat/checkpoint_loader.h"

#include <map>
#include <set>

#include <ATen/ATen.h>

#include "io/error.h"
#include "formats/safetensors.h"
#include "model/checkpoint_layout.h"
#include "model/gemma4_tensors.h"
#include "run/run_folder.h"

namespace gq {

LoadReport load_weights(Gemma4Model& model, const Checkpoint& ckpt) {
  const Gemma4Config& cfg = model->config();
  LoadReport rep;
  rep.prefix = detect_prefix(cfg, ckpt);

  std::map<std::string, at::Tensor> slots;
  for (const auto& kv : model->named_parameters(/*recurse=*/true)) slots[kv.key()] = kv.value();
  for (const auto& kv : model->named_buffers(/*recurse=*/true)) slots[kv.key()] = kv.value();

  std::set<std::string> known;
  at::NoGradGuard no_grad;
  for (const TensorSpec& spec : gemma4_tensor_specs(cfg)) {
    const std::string name = stored_name(rep.prefix, spec.name);
    known.insert(name);
    const TensorView* found = find_spec_tensor(ckpt, spec, name);  // absent layer_scalar = 1
    if (!found) continue;
    const TensorView& tv = *found;
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
  rep.ignored_other = count_other_tensors(ckpt, rep.prefix, known);
  return rep;
}

Gemma4Model load_model(const std::string& path, LoadReport* report) {
  const std::string dir = run_folder::checkpoint_dir(path);
  const Gemma4Config cfg = Gemma4Config::load(dir);
  const Checkpoint ckpt = Checkpoint::open(dir);
  check_checkpoint_matches(cfg, ckpt);  // before the model allocates what the config says
  Gemma4Model model(cfg);
  LoadReport rep = load_weights(model, ckpt);
  if (report) *report = rep;
  model->eval();
  return model;
}

}  // namespace gq
