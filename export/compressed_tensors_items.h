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
  std::string module;  // quant-target module: learned-scale and input-scale key
  int64_t row0 = 0, rows = 0, cols = 0, total_rows = 0;
  std::vector<int64_t> shape;  // Float
  quant::WeightScheme scheme;  // the scheme the integers are encoded with (the trained one for a run)
  float value = 0;             // KvScale
};

// The tensors an item writes, in write order.
std::vector<TensorInfo> tensors_of(const Item& it, DType model, DType scale);

struct ItemList {
  std::vector<Item> items;          // in write order
  size_t unused_skipped = 0;        // k/v of KV-shared layers not written
  size_t other_towers_skipped = 0;  // vision / audio tensors not written
  std::vector<std::string> warnings;
};

// Validates the checkpoint against the config (every text tensor present, shapes as the config
// implies, float dtypes, nothing unknown under the text prefix) and lists what the export writes:
// the text tensors in checkpoint order, MoE banks split per expert as vLLM loads them, then the KV
// scales. `scale`: the file's scale dtype (a plain checkpoint's RTN runs in it).
ItemList list_items(const Gemma4Config& cfg, const Checkpoint& ck, const ResolvedRecipe& rr, const QuantizationConfig& qc,
                    const Inputs& in, DType scale);

}  // namespace gq::compressed_tensors
