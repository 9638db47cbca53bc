// The output units of a compressed-tensors export, planned from the checkpoint before anything is
// written: a float tensor, a quantized Linear (one expert of a bank counts as one) or a KV scale,
// each with the tensors it writes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "export/compressed_tensors_config.h"
#include "export/compressed_tensors_inputs.h"
#include "export/compressed_tensors_safetensors.h"
#include "formats/safetensors.h"
#include "quant/scheme.h"

namespace gq::compressed_tensors {

enum class ItemKind { Float, Packed, Int8, KvScale };

// Quantized items read rows [row0, row0 + rows) of their source seen as [total_rows, cols].
struct Item {
  ItemKind kind = ItemKind::Float;
  std::string name;    // output tensor (Float, KvScale) or module prefix ("model.layers.0.mlp.up_proj")
  std::string source;  // checkpoint tensor
  std::string module;  // quant-target module: the input / output scale key
  std::string weight_module;  // whose learned weight scales these are: `module`, or the table of a tied head
  bool input_scale = false, output_scale = false;  // static activations: float32 [1] each
  int64_t row0 = 0, rows = 0, cols = 0, total_rows = 0;
  std::vector<int64_t> shape;  // Float
  quant::WeightScheme scheme;  // the deployed scheme: the integers' grid and the stored scale dtype
  float value = 0;             // KvScale
};

// The tensors an item writes, in write order: floats in `model` (the float dtype), scales in the
// scheme's scale dtype.
std::vector<TensorInfo> tensors_of(const Item& it, DType model);

struct ItemList {
  std::vector<Item> items;          // in write order
  size_t unused_skipped = 0;        // k/v of KV-shared layers not written
  size_t other_towers_skipped = 0;  // vision / audio tensors not written
  std::vector<std::string> warnings;
};

// Validates the checkpoint against the config (every text tensor present, shapes as the config
// implies, float dtypes, nothing unknown under the text prefix) and lists what the export writes:
// the text tensors in checkpoint order, MoE banks split per expert as vLLM loads them, a float
// lm_head copied from the table for a tied model whose head is ignored (float) or quantized (vLLM
// cannot tie a head to a quantized table), then the KV scales.
ItemList list_items(const Gemma4Config& cfg, const Checkpoint& ck, const ResolvedRecipe& rr, const QuantizationConfig& qc,
                    const Inputs& in);

// Whether the export writes its own lm_head for a tied model (config.json then unties it).
bool writes_untied_head(const Gemma4Config& cfg, const ResolvedRecipe& rr);

}  // namespace gq::compressed_tensors
