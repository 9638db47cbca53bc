#include "export/compressed_tensors_items.h"

#include <map>
#include <set>

#include "model/checkpoint_layout.h"
#include "model/gemma4_tensors.h"
#include "model/quant_targets.h"
#include "quant/packing.h"
#include "quant/weight.h"

namespace gq::compressed_tensors {
namespace {

using quant::WeightScheme;

class ItemPlanner {
 public:
  ItemPlanner(const ResolvedRecipe& rr, const QuantizationConfig& qc, const Inputs& in, ItemList& out)
      : rr_(rr), qc_(qc), in_(in), out_(out) {}

  void add_float(const TensorSpec& s, const std::string& src) {
    Item it;
    it.name = s.name == "lm_head.weight" ? s.name : "model." + s.name;
    it.source = src;
    it.shape = s.shape;
    it.cols = s.shape.back();
    it.rows = it.total_rows = s.numel() / it.cols;
    out_.items.push_back(it);
  }

  void add_quantized(const TensorSpec& s, const std::string& src, const std::string& module,
                     const std::string& weight_module) {
    const WeightScheme& scheme = rr_.weights.at(module);
    const ConfigGroup& g = qc_.groups.at(qc_.group_of.at(module));
    Item it;
    it.kind = g.format == "int-quantized" ? ItemKind::Int8 : ItemKind::Packed;
    it.source = src;
    it.module = module;
    it.weight_module = weight_module;
    it.scheme = scheme;
    it.input_scale = g.input.has_value();
    it.output_scale = g.output.has_value();
    if (s.shape.size() == 2) {
      it.name = module == "lm_head" ? module : "model." + module;
      it.rows = it.total_rows = s.shape[0];
      it.cols = s.shape[1];
      out_.items.push_back(it);
      return;
    }
    // MoE bank [E, R, C]: one Linear per expert (gate_up splits into gate and up), as vLLM loads them.
    const int64_t E = s.shape[0], R = s.shape[1];
    const std::string layer = module.substr(0, module.find(".experts.")), bank = module.substr(module.rfind('.') + 1);
    it.cols = s.shape[2];
    it.total_rows = E * R;
    for (int64_t e = 0; e < E; ++e) {
      const std::string base = "model." + layer + ".experts." + std::to_string(e) + ".";
      if (bank == "gate_up_proj") {
        it.rows = R / 2;
        it.row0 = e * R, it.name = base + "gate_proj";
        out_.items.push_back(it);
        it.row0 = e * R + R / 2, it.name = base + "up_proj";
        out_.items.push_back(it);
      } else {
        it.rows = R;
        it.row0 = e * R, it.name = base + "down_proj";
        out_.items.push_back(it);
      }
    }
  }

  void add_kv_scales() {
    for (const auto& [layer, ks] : in_.kv_scales) {
      Item it;
      it.kind = ItemKind::KvScale;
      it.name = "model.layers." + std::to_string(layer) + ".self_attn.k_scale";
      it.value = ks.first;
      out_.items.push_back(it);
      it.name = "model.layers." + std::to_string(layer) + ".self_attn.v_scale";
      it.value = ks.second;
      out_.items.push_back(it);
    }
  }

 private:
  const ResolvedRecipe& rr_;
  const QuantizationConfig& qc_;
  const Inputs& in_;
  ItemList& out_;
};

}  // namespace

std::vector<TensorInfo> tensors_of(const Item& it, DType model) {
  const DType scale = it.scheme.scale_dtype;
  switch (it.kind) {
    case ItemKind::Float: return {{it.name, model, it.shape}};
    case ItemKind::KvScale: return {{it.name, DType::F32, {1}}};
    case ItemKind::Int8:
    case ItemKind::Packed: {
      std::vector<TensorInfo> t;
      if (it.kind == ItemKind::Int8) {
        t = {{it.name + ".weight", DType::I8, {it.rows, it.cols}}, {it.name + ".weight_scale", scale, {it.rows, 1}}};
      } else {
        const int bits = it.scheme.bits;
        const int64_t spr = quant::weight_scales_per_row(it.scheme, it.cols);
        t = {{it.name + ".weight_packed", DType::I32, {it.rows, quant::ct_packed_cols(it.cols, bits)}},
             {it.name + ".weight_scale", scale, {it.rows, spr}},
             {it.name + ".weight_shape", DType::I64, {2}}};
        if (!it.scheme.symmetric)
          t.push_back({it.name + ".weight_zero_point", DType::I32, {quant::ct_packed_cols(it.rows, bits), spr}});
      }
      if (it.input_scale) t.push_back({it.name + ".input_scale", DType::F32, {1}});
      if (it.output_scale) t.push_back({it.name + ".output_scale", DType::F32, {1}});
      return t;
    }
  }
  return {};
}

bool writes_untied_head(const Gemma4Config& cfg, const ResolvedRecipe& rr) {
  return cfg.tie_word_embeddings && (rr.untie_head || rr.weights.count("lm_head"));
}

ItemList list_items(const Gemma4Config& cfg, const Checkpoint& ck, const ResolvedRecipe& rr, const QuantizationConfig& qc,
                    const Inputs& in) {
  ItemList out;
  ItemPlanner planner(rr, qc, in, out);
  const std::string prefix = detect_prefix(cfg, ck);
  std::map<std::string, std::string> module_of;  // spec name -> quant-target module
  for (const QuantTarget& t : gemma4_quant_targets(cfg))
    if (!t.tensor.empty()) module_of[t.tensor] = t.name;
  std::set<std::string> known;
  for (const TensorSpec& s : gemma4_tensor_specs(cfg)) {
    const std::string src = stored_name(prefix, s.name);
    known.insert(src);
    const TensorView* tv = find_spec_tensor(ck, s, src);  // absent layer_scalar = 1, in HF and vLLM
    if (!tv) continue;
    require_float_tensor(*tv);
    if (s.unused) {
      ++out.unused_skipped;  // k/v of KV-shared layers: never read (vLLM leaves those shards unused)
      continue;
    }
    auto m = module_of.find(s.name);
    if (m != module_of.end() && qc.group_of.count(m->second)) planner.add_quantized(s, src, m->second, m->second);
    else planner.add_float(s, src);
  }
  out.other_towers_skipped = count_other_tensors(ck, prefix, known);
  if (out.other_towers_skipped)
    out.warnings.push_back(ck.path() + ": " + std::to_string(out.other_towers_skipped) +
                           " tensors outside the text model (vision / audio towers, a tied lm_head copy) are not written: "
                           "the export is a text-only Gemma4ForCausalLM");
  if (writes_untied_head(cfg, rr)) {
    const TensorSpec head{"lm_head.weight", {cfg.vocab_size, cfg.hidden_size}, Component::Embedding};
    const std::string table = stored_name(prefix, "embed_tokens.weight");
    if (!rr.weights.count("lm_head"))
      planner.add_float(head, table);  // an ignored head of a tied model: a float copy of the table
    else  // a head sharing the table's scheme shares its learned scales too
      planner.add_quantized(head, table, "lm_head", rr.untie_head ? "lm_head" : "embed_tokens");
  }
  planner.add_kv_scales();
  return out;
}

}  // namespace gq::compressed_tensors
