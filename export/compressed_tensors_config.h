// What a recipe becomes in the config.json of a compressed-tensors checkpoint that vLLM loads: the
// `quantization_config` (one config group per distinct (weight, input) scheme, the modules each
// targets, the `ignore` list, the KV-cache scheme), with the refusals for everything
// compressed-tensors or vLLM cannot hold; and the config.json itself.
//
// Names are the ones vLLM matches: "model." + module ("model.layers.0.self_attn.q_proj"). vLLM fuses
// q/k/v into qkv_proj and gate/up into gate_up_proj and requires every shard to match the same
// target (or all be ignored): k/v of KV-shared layers (not stored) and v of K=V layers (vLLM copies
// k_proj into it) are listed with their layer's q_proj. MoE experts are served by one FusedMoE per
// layer whose shards vLLM names "model.layers.N.moe.experts.E.{gate,up,down}_proj" while the
// checkpoint holds "model.layers.N.experts.E.*": a per-layer regex covers both spellings.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/dtype.h"
#include "model/gemma4_config.h"
#include "quant/scheme.h"
#include "recipes/recipe.h"

namespace gq::compressed_tensors {

struct ConfigGroup {
  quant::WeightScheme weights;                    // as the recipe names it (scale dtype aside)
  std::optional<quant::ActivationScheme> input;   // static per-tensor int8 (W8A8, WNA8O8)
  std::optional<quant::ActivationScheme> output;  // static per-tensor int8 (WNA8O8)
  std::string format;                             // "pack-quantized" or "int-quantized" (ct_int8_weights)
  std::vector<std::string> targets;
};

struct QuantizationConfig {
  std::vector<ConfigGroup> groups;
  std::map<std::string, size_t> group_of;  // quantized quant-target module -> group
  std::vector<std::string> ignore;         // unquantized Linears (and routers, a float lm_head)
  std::optional<quant::KvScheme> kv_cache;
  std::vector<std::string> warnings;
};

// What vLLM serves (vllm-project/vllm, model_executor/layers/quantization/compressed_tensors/,
// docs/compressed-tensors.md cites the code):
//   weight-only int 4/8 (WNA16)            Linears, channel or group, sym or asym
//   int8 channel + static int8 inputs      Linears (W8A8, CompressedTensorsW8A8Int8)
//   int 2/4/8 + static int8 in AND out     Linears and the head (CompressedTensorsWNA8O8Int), symmetric
//   weight-only int 2/4/8, symmetric       embeddings (CompressedTensorsEmbeddingWNA16Int)
// `what` names the recipe in messages ("recipe 'w4a16-g32' (recipes/w4a16-g32.json)"). Throws
// FormatError naming the module for anything else (GGUF block schemes, a quantized router, output
// activations without inputs, ...), fused shards with different schemes, a kv_cache other than kv_int8.
QuantizationConfig plan_quantization_config(const Gemma4Config& cfg, const ResolvedRecipe& rr, const std::string& what);

// The `quantization_config` object of config.json.
nlohmann::json quantization_config_json(const QuantizationConfig& qc);

// config.json: the Gemma4ForCausalLM config, its dtype (the unquantized tensors') and the
// quantization_config.
std::string config_json(const Gemma4Config& cfg, DType model_dtype, const QuantizationConfig& qc);

// Copies the tokenizer, chat-template and generation files of checkpoint folder `from` into `to`
// (those that exist); FormatError naming the file that cannot be copied.
void copy_companion_files(const std::string& from, const std::string& to);

// The expert shards of layer `layer` as a vLLM target regex.
std::string experts_target_regex(int64_t layer);

}  // namespace gq::compressed_tensors
