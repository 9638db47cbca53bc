#include "qat/checkpoint_writer.h"

#include <cstdio>
#include <filesystem>
#include <map>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "formats/atomic_file.h"
#include "formats/error.h"
#include "formats/gemma4_tensors.h"
#include "formats/safetensors.h"

namespace gq {
namespace {

at::ScalarType torch_dtype(DType t) {
  switch (t) {
    case DType::F32: return at::kFloat;
    case DType::BF16: return at::kBFloat16;
    case DType::F16: return at::kHalf;
    default: throw FormatError(std::string("cannot save weights as ") + dtype_name(t) + " (use F32, BF16 or F16)");
  }
}

void write_text(const std::string& path, const std::string& text) {
  AtomicFile f(path);
  f.write(text.data(), text.size());
  f.commit();
}

}  // namespace

void save_hf_checkpoint(Gemma4Model& model, const std::string& dir, const HfSaveOptions& opt) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw FormatError(dir + ": cannot create folder: " + ec.message());
  const Gemma4Config& cfg = model->config();
  const at::ScalarType st = torch_dtype(opt.dtype);

  std::map<std::string, at::Tensor> slots;
  for (const auto& kv : model->named_parameters(true)) slots[kv.key()] = kv.value();
  for (const auto& kv : model->named_buffers(true)) slots[kv.key()] = kv.value();

  // Converted tensors in checkpoint order, split into shards of at most max_shard_bytes.
  struct Item {
    std::string name;
    at::Tensor data;
  };
  std::vector<std::vector<Item>> shards(1);
  int64_t shard_bytes = 0, total = 0;
  for (const TensorSpec& s : gemma4_tensor_specs(cfg)) {
    if (s.unused) continue;
    at::Tensor t = slots.at(s.name).detach().to(at::kCPU).to(st).contiguous();
    const int64_t n = t.numel() * int64_t(t.element_size());
    if (shard_bytes > 0 && shard_bytes + n > opt.max_shard_bytes) shards.emplace_back(), shard_bytes = 0;
    shards.back().push_back({s.name == "lm_head.weight" ? s.name : "model." + s.name, t});
    shard_bytes += n;
    total += n;
  }

  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    const std::string file = shards.size() == 1 ? "model.safetensors" : name;
    std::vector<TensorToWrite> out;
    for (const Item& it : shards[i]) {
      out.push_back({it.name, opt.dtype, it.data.sizes().vec(), it.data.data_ptr(), size_t(it.data.numel()) * it.data.element_size()});
      weight_map[it.name] = file;
    }
    write_safetensors((fs::path(dir) / file).string(), out, {{"format", "pt"}});
  }
  // A previous save with a different layout must not shadow this one (the index wins when present).
  fs::remove(fs::path(dir) / (shards.size() > 1 ? "model.safetensors" : "model.safetensors.index.json"), ec);
  if (shards.size() > 1) {
    const nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    write_text((fs::path(dir) / "model.safetensors.index.json").string(), index.dump(2) + "\n");
  }
  Gemma4Config out_cfg = cfg;
  out_cfg.dtype = opt.dtype == DType::F32 ? "float32" : opt.dtype == DType::BF16 ? "bfloat16" : "float16";
  write_text((fs::path(dir) / "config.json").string(), out_cfg.to_causal_lm_json());
}

}  // namespace gq
