// `info`: what a checkpoint (or a bare config) is, and where its parameters and bytes are.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "cli/commands.h"
#include "cli/format_units.h"
#include "io/dtype.h"
#include "io/error.h"
#include "model/gemma4_config.h"
#include "model/gemma4_tensors.h"
#include "formats/safetensors.h"
#include "run/run_folder.h"

namespace gq::cli {
namespace {

struct Tally {
  int64_t params = 0;
  int64_t bytes = 0;
};

int64_t dtype_bytes_for(const std::string& config_dtype) {
  if (config_dtype == "float32") return 4;
  if (config_dtype == "float64") return 8;
  return 2;  // bfloat16 / float16: what released checkpoints hold
}

void print_config(const Gemma4Config& c) {
  int64_t n_sliding = 0;
  for (int64_t i = 0; i < c.L(); ++i) n_sliding += c.is_sliding(i);
  int64_t hd_s = c.head_dim, hd_f = c.global_head_dim, kv_s = c.num_key_value_heads, kv_f = kv_s;
  for (int64_t i = 0; i < c.L(); ++i) {
    if (c.is_sliding(i)) hd_s = c.layer_head_dim[size_t(i)], kv_s = c.layer_kv_heads[size_t(i)];
    else hd_f = c.layer_head_dim[size_t(i)], kv_f = c.layer_kv_heads[size_t(i)];
  }
  std::cout << "architecture   " << (c.architecture.empty() ? "(none given)" : c.architecture) << ", weights under '"
            << c.weight_prefix << "'\n";
  std::cout << "layers         " << c.L() << " (" << n_sliding << " sliding, " << c.L() - n_sliding << " full)\n";
  std::cout << "hidden         " << c.hidden_size << ", vocab " << c.vocab_size << "\n";
  std::cout << "attention      " << c.num_attention_heads << " heads; sliding: head dim " << hd_s << ", " << kv_s
            << " KV heads, window " << c.sliding_window << "; full: head dim " << hd_f << ", " << kv_f << " KV heads"
            << (c.attention_k_eq_v ? ", K=V" : "") << "\n";
  std::cout << "mlp            " << c.intermediate_size;
  if (c.use_double_wide_mlp && c.num_kv_shared_layers) std::cout << " (" << 2 * c.intermediate_size << " on KV-shared layers)";
  std::cout << "\n";
  if (c.enable_moe_block)
    std::cout << "moe            " << c.num_experts << " experts, top-" << c.top_k_experts << ", width "
              << c.moe_intermediate_size << "\n";
  std::cout << "kv sharing     " << c.num_kv_shared_layers << " layers";
  if (c.num_kv_shared_layers) std::cout << " (first shared layer " << c.first_kv_shared_layer() << ")";
  std::cout << "\n";
  std::cout << "per-layer emb  " << (c.has_ple() ? std::to_string(c.hidden_size_per_layer_input) + " per layer" : "none")
            << "\n";
  std::cout << "softcap        "
            << (c.final_logit_softcapping ? std::to_string(int(*c.final_logit_softcapping)) : std::string("none")) << "\n";
  std::cout << "context        " << c.max_position_embeddings << ", tied head: " << (c.tie_word_embeddings ? "yes" : "no")
            << "\n";
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  auto meta = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("info", "Config summary, parameter count and bytes per component");
  cmd->add_option("MODEL", *model, "checkpoint folder, training run folder, or a config.json file")->required();
  cmd->add_flag("--meta", *meta, "count from the config alone, without opening any weights");
  cmd->callback([model, meta] {
    namespace fs = std::filesystem;
    const std::string path = run_folder::checkpoint_dir(*model);
    const Gemma4Config cfg = Gemma4Config::load(path);
    print_config(cfg);

    std::map<std::string, const TensorSpec*> by_name;
    const std::vector<TensorSpec> specs = gemma4_tensor_specs(cfg);
    for (const TensorSpec& s : specs) by_name[s.name] = &s;

    std::map<Component, Tally> tally;
    Tally unused, total;
    std::string bytes_label;
    const bool from_weights = !*meta && fs::is_directory(path);
    if (from_weights) {
      const Checkpoint ck = Checkpoint::open(path);
      std::set<std::string> dtypes;
      const std::string mm = "model.language_model.";
      const std::string prefix = ck.has(mm + "embed_tokens.weight") ? mm : cfg.weight_prefix;
      for (const std::string& n : ck.names()) {
        std::string rel = n == "lm_head.weight" ? n : (n.compare(0, prefix.size(), prefix) == 0 ? n.substr(prefix.size()) : "");
        auto it = by_name.find(rel);
        if (it == by_name.end()) continue;
        const TensorView& tv = ck.tensor(n);
        dtypes.insert(dtype_name(tv.dtype));
        Tally& t = it->second->unused ? unused : tally[it->second->component];
        t.params += tv.numel();
        t.bytes += int64_t(tv.nbytes);
      }
      for (const std::string& d : dtypes) bytes_label += (bytes_label.empty() ? "" : "/") + d;
      bytes_label = "bytes (" + bytes_label + ", as stored)";
    } else {
      const int64_t eb = dtype_bytes_for(cfg.dtype);
      for (const TensorSpec& s : specs) {
        Tally& t = s.unused ? unused : tally[s.component];
        t.params += s.numel();
        t.bytes += s.numel() * eb;
      }
      bytes_label = "bytes (" + cfg.dtype + ", from config)";
    }

    std::printf("\n%-22s %16s %16s\n", "component", "parameters", bytes_label.c_str());
    for (const auto& [comp, t] : tally) {
      std::printf("%-22s %16s %16s\n", component_name(comp), human_count(t.params).c_str(), human_bytes(double(t.bytes)).c_str());
      total.params += t.params;
      total.bytes += t.bytes;
    }
    std::printf("%-22s %16s %16s\n", "total", human_count(total.params).c_str(), human_bytes(double(total.bytes)).c_str());
    if (cfg.has_ple()) {
      const Tally& ple = tally[Component::PerLayerEmbedding];
      std::printf("%-22s %16s %16s\n", "total w/o PLE table", human_count(total.params - ple.params).c_str(),
                  human_bytes(double(total.bytes - ple.bytes)).c_str());
    }
    if (unused.params)
      std::printf("%-22s %16s %16s   (k/v of KV-shared layers: stored in official checkpoints, never read)\n",
                  "unused", human_count(unused.params).c_str(), human_bytes(double(unused.bytes)).c_str());
  });
}

GQ_REGISTER_COMMAND(add_info_command);

}  // namespace gq::cli
