#include "export/compressed_tensors.h"

#include <chrono>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "export/compressed_tensors_config.h"
#include "export/compressed_tensors_inputs.h"
#include "export/compressed_tensors_items.h"
#include "export/compressed_tensors_precheck.h"
#include "export/compressed_tensors_safetensors.h"
#include "export/compressed_tensors_writer.h"
#include "export/export_warning.h"
#include "export/parallel_rows.h"
#include "io/error.h"
#include "io/folder_swap.h"
#include "io/text_file.h"
#include "model/quant_targets.h"
#include "quant/rounding.h"

namespace gq {
namespace {

namespace fs = std::filesystem;
namespace ct = compressed_tensors;

// A folder this exporter may replace: empty, or an earlier compressed-tensors export.
bool replaceable(const fs::path& out) {
  std::error_code ec;
  if (!fs::is_directory(out, ec)) return false;
  if (fs::is_empty(out, ec)) return true;
  try {
    const nlohmann::json j = nlohmann::json::parse(read_text_file((out / "config.json").string()));
    return j.at("quantization_config").at("quant_method") == "compressed-tensors";
  } catch (const std::exception&) {
    return false;
  }
}

void check_output_folder(const std::string& out, const std::string& checkpoint) {
  std::error_code ec;
  if (!fs::exists(out, ec)) return;
  if (fs::equivalent(out, checkpoint, ec)) throw FormatError(out + ": the output folder is the input checkpoint");
  if (!replaceable(out))
    throw FormatError(out + ": exists and is not a compressed-tensors export; remove it or choose another output folder");
}

// The scale dtype most quantized modules store.
DType common_scale_dtype(const ResolvedRecipe& rr, const ct::QuantizationConfig& qc) {
  std::map<DType, size_t> n;
  for (const auto& [module, group] : qc.group_of) ++n[rr.weights.at(module).scale_dtype];
  DType best = rr.float_dtype;
  size_t most = 0;
  for (const auto& [t, k] : n)
    if (k > most) best = t, most = k;
  return best;
}

}  // namespace

CompressedTensorsExportResult export_compressed_tensors(const std::string& model_or_run, const std::string& out_dir,
                                                        const CompressedTensorsExportOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  CompressedTensorsExportResult res;
  res.path = out_dir;
  auto warn = [&](const std::string& w) { report_warning(w, res.warnings, opt.on_warning); };

  DeploymentRequest rq;
  rq.recipe = opt.recipe;
  rq.float_dtype = opt.float_dtype;
  rq.scale_dtype = opt.scale_dtype;
  rq.allow_rounding = opt.allow_rounding;
  const Deployment dep = plan_deployment(model_or_run, rq);
  ct::Inputs in = ct::read_inputs(dep);
  res.checkpoint = in.checkpoint;
  res.from_run = in.from_run;
  check_output_folder(out_dir, in.checkpoint);

  const Gemma4Config cfg = Gemma4Config::load(in.checkpoint);
  const ResolvedRecipe& rr = dep.deployed;
  const DType model = rr.float_dtype;
  const ct::QuantizationConfig qc =
      ct::plan_quantization_config(cfg, rr, "recipe '" + in.recipe.name + "' (" + in.recipe.source + ")");
  report_changes(dep, opt.rounding_effect, res.warnings, opt.on_warning);
  for (const std::string& w : qc.warnings) warn(w);
  res.model_dtype = model;
  res.scale_dtype = common_scale_dtype(rr, qc);
  ct::read_static_scales(in, cfg, rr, opt.calibration);

  const Checkpoint ck = Checkpoint::open(in.checkpoint);
  const ct::ItemList list = ct::list_items(cfg, ck, rr, qc, in);
  for (const std::string& w : list.warnings) warn(w);
  res.unused_skipped = list.unused_skipped;
  res.other_towers_skipped = list.other_towers_skipped;
  ct::ItemWriter writer{in, out_dir, model, opt.threads > 0 ? opt.threads : default_threads(), opt.chunk_bytes, {}};
  ct::precheck_learned_scales(list.items, rr, cfg.tie_word_embeddings, writer);
  res.learned_modules = writer.learned.size();

  std::vector<ct::TensorInfo> tensors;
  for (const ct::Item& it : list.items)
    for (ct::TensorInfo& t : ct::tensors_of(it, model)) tensors.push_back(std::move(t));
  res.tensors = tensors.size();

  FolderSwap swap(out_dir);
  ct::ShardWriter w(swap.staging(), tensors, opt.max_shard_bytes, {{"format", "pt"}});
  std::set<std::string> sources;
  for (size_t i = 0; i < list.items.size(); ++i) {
    const ct::Item& it = list.items[i];
    if (opt.on_tensor) opt.on_tensor(i, list.items.size(), it.name);
    if (!it.source.empty() && sources.insert(it.source).second) res.input_bytes += ck.tensor(it.source).nbytes;
    switch (it.kind) {
      case ct::ItemKind::Float: writer.write_float(it, ck, w); break;
      case ct::ItemKind::KvScale: w.write(it.name, &it.value, 4); break;
      case ct::ItemKind::Packed:
      case ct::ItemKind::Int8: {
        writer.write_quantized(it, ck, w);
        ++res.quantized_modules;
        quant::WeightScheme n = it.scheme;
        n.scale_dtype = DType::F32;
        std::string key = quant::weight_scheme_name(n);
        if (it.input_scale) key += "+a8";
        if (it.output_scale) key += "o8";
        ++res.modules_by_scheme[key];
        break;
      }
    }
  }
  w.finish();
  res.bytes = w.bytes();
  res.shards = w.shards();
  res.format = ct::quantization_config_json(qc).at("format").get<std::string>();
  Gemma4Config written = cfg;
  if (ct::writes_untied_head(cfg, rr)) written.tie_word_embeddings = false;  // the file holds its own lm_head.weight
  write_text_file((fs::path(swap.staging()) / "config.json").string(), ct::config_json(written, model, qc));
  ct::copy_companion_files(in.checkpoint, swap.staging());
  swap.commit();
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace gq
