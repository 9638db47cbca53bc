#include "qat/checkpoint_writer.h"

#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "io/error.h"
#include "io/folder_swap.h"
#include "io/text_file.h"
#include "model/checkpoint_layout.h"
#include "model/gemma4_tensors.h"
#include "qat/quantize.h"

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

std::string read_config_text(const std::string& dir) {
  return read_text_file((std::filesystem::path(dir) / "config.json").string());
}

// The head the fake-quant model computes with, when the checkpoint must store it as lm_head.weight:
// always for an untied model, and for a tied one whose head differs from its (quantized) embedding
// (a recipe that gives the head its own scheme, or leaves it float over a quantized table).
at::Tensor head_to_store(Gemma4Model& model) {
  at::NoGradGuard ng;
  at::Tensor head = model->head_weight();
  if (model->lm_head) return head;
  const at::Tensor table = model->embed_quant(model->embed_tokens->weight);
  return at::equal(head, table) ? at::Tensor() : head;
}

// A folder an hf export may replace: empty, or a checkpoint folder (an earlier export).
bool replaceable(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  return fs::is_directory(dir, ec) && (fs::is_empty(dir, ec) || fs::is_regular_file(fs::path(dir) / "config.json", ec));
}

}  // namespace

void save_hf_checkpoint(Gemma4Model& model, const std::string& dir, const HfSaveOptions& opt) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw FormatError(dir + ": cannot create folder: " + ec.message());
  const at::ScalarType st = torch_dtype(opt.dtype);
  Gemma4Config out_cfg = model->config();

  std::map<std::string, at::Tensor> slots;
  for (const auto& kv : model->named_parameters(true)) slots[kv.key()] = kv.value();
  for (const auto& kv : model->named_buffers(true)) slots[kv.key()] = kv.value();
  std::map<std::string, TensorSeam> seamed;
  if (opt.weights == HfWeights::kFakeQuant) {
    seamed = tensor_seams(model);
    if (at::Tensor head = head_to_store(model); head.defined()) {
      slots["lm_head.weight"] = head;
      out_cfg.tie_word_embeddings = false;
    }
  }

  // Converted tensors in checkpoint order, split into shards of at most max_shard_bytes. Copied
  // tensors of a multimodal source point into its (memory-mapped) files.
  struct Item {
    std::string name;
    at::Tensor data;            // converted text weight, or
    const TensorView* copied;   // a source tensor written as it is
    int64_t bytes() const { return data.defined() ? data.numel() * int64_t(data.element_size()) : int64_t(copied->nbytes); }
  };
  std::vector<std::vector<Item>> shards(1);
  int64_t shard_bytes = 0, total = 0;
  auto add = [&](Item it) {
    const int64_t n = it.bytes();
    if (shard_bytes > 0 && shard_bytes + n > opt.max_shard_bytes) shards.emplace_back(), shard_bytes = 0;
    shards.back().push_back(std::move(it));
    shard_bytes += n;
    total += n;
  };
  const bool multimodal = !opt.multimodal_source.empty();
  const std::string text_prefix = multimodal ? kMultimodalTextPrefix : kTextPrefix;
  std::optional<Checkpoint> source;
  if (multimodal) source = Checkpoint::open(opt.multimodal_source);
  for (const TensorSpec& s : gemma4_tensor_specs(out_cfg)) {
    if (s.unused) continue;
    at::Tensor t;
    if (auto q = seamed.find(s.name); q != seamed.end()) {
      at::NoGradGuard ng;
      t = (*q->second.seam)(q->second.tensor);  // one tensor at a time: memory stays at one extra weight
    } else {
      t = slots.at(s.name);
    }
    t = t.detach().to(at::kCPU).to(st).contiguous();
    add({stored_name(text_prefix, s.name), t, nullptr});
  }
  if (source)
    for (const std::string& n : source->names())
      if (n.rfind(text_prefix, 0) != 0 && n != "lm_head.weight") add({n, at::Tensor(), &source->tensor(n)});

  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    const std::string file = shards.size() == 1 ? "model.safetensors" : name;
    std::vector<TensorToWrite> out;
    for (const Item& it : shards[i]) {
      if (it.data.defined())
        out.push_back({it.name, opt.dtype, it.data.sizes().vec(), it.data.data_ptr(), size_t(it.bytes())});
      else
        out.push_back({it.name, it.copied->dtype, it.copied->shape, it.copied->data, it.copied->nbytes});
      weight_map[it.name] = file;
    }
    write_safetensors((fs::path(dir) / file).string(), out, {{"format", "pt"}});
  }
  // A previous save with a different layout must not shadow this one (the index wins when present).
  fs::remove(fs::path(dir) / (shards.size() > 1 ? "model.safetensors" : "model.safetensors.index.json"), ec);
  if (shards.size() > 1) {
    const nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    write_text_file((fs::path(dir) / "model.safetensors.index.json").string(), index.dump(2) + "\n");
  }
  out_cfg.dtype = hf_dtype_name(opt.dtype);
  std::string config_text = out_cfg.to_causal_lm_json();
  if (multimodal) {
    // The source's config with its text part replaced by the one these weights have.
    nlohmann::json root = nlohmann::json::parse(read_config_text(opt.multimodal_source));
    if (!root.is_object() || !root.contains("text_config"))
      throw FormatError(opt.multimodal_source + "/config.json: not a multimodal Gemma 4 config (no text_config)");
    root["text_config"] = nlohmann::json::parse(config_text);
    root["dtype"] = out_cfg.dtype;
    if (!out_cfg.tie_word_embeddings) root["tie_word_embeddings"] = false;  // the top-level key wins
    config_text = root.dump(2) + "\n";
  }
  write_text_file((fs::path(dir) / "config.json").string(), config_text);
}

void export_hf_checkpoint(Gemma4Model& model, const std::string& out, const HfSaveOptions& opt,
                          const std::vector<std::string>& extra_files) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(out, ec) && !replaceable(out))
    throw FormatError(out + ": exists and is not a checkpoint folder; remove it or choose another output folder");
  FolderSwap swap(out);
  save_hf_checkpoint(model, swap.staging(), opt);
  for (const std::string& f : extra_files)
    if (!fs::copy_file(f, fs::path(swap.staging()) / fs::path(f).filename(), ec))
      throw FormatError(f + ": cannot copy into " + swap.staging() + ": " + ec.message());
  swap.commit();
}

}  // namespace gq
