// The streaming half of the compressed-tensors exporter: what one output unit (a float tensor, a
// quantized Linear — one expert of a bank counts as one — or a KV scale) writes, and how: a chunk
// of rows at a time from the memory-mapped checkpoint, quantized on all cores, appended to the
// shard writer.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "export/ct_inputs.h"
#include "export/ct_safetensors.h"
#include "quant/scheme.h"
#include "quant/weight.h"
#include "formats/safetensors.h"

namespace gq {

enum class CtItemKind { Float, Packed, Int8, KvScale };

// Quantized items read rows [row0, row0 + rows) of their source seen as [total_rows, cols].
struct CtItem {
  CtItemKind kind = CtItemKind::Float;
  std::string name;    // output tensor (Float, KvScale) or module prefix ("model.layers.0.mlp.up_proj")
  std::string source;  // checkpoint tensor
  std::string module;  // quant-target module: learned-scale and input-scale key
  int64_t row0 = 0, rows = 0, cols = 0, total_rows = 0;
  std::vector<int64_t> shape;  // Float
  quant::WeightScheme scheme;  // the scheme the integers are encoded with (the trained one for a run)
  float value = 0;             // KvScale
};

// The tensors an item writes, in write order.
std::vector<CtTensorInfo> ct_tensors_of(const CtItem& it, DType model, DType scale);

struct CtStream {
  const CtInputs& in;
  std::string out;  // output folder, for messages
  DType model = DType::BF16, scale = DType::BF16;
  int threads = 1;
  size_t chunk_bytes = size_t(64) << 20;
  std::set<std::string> learned;  // modules written with the run's learned scales / zero points

  void write_float(const CtItem& it, const Checkpoint& ck, CtShardWriter& w) const;
  void write_quantized(const CtItem& it, const Checkpoint& ck, CtShardWriter& w) const;
  // For a run: FormatError naming the module if storing q's scales in `scale` (instead of the
  // scheme's own dtype) changes any dequantized weight.
  void check_storable(quant::QuantizedWeight& q, const CtItem& it, int64_t row_base) const;
};

TensorView ct_row_slice(const TensorView& v, int64_t cols, int64_t row0, int64_t n);  // rows of [rows, cols]
std::string ct_dtype(DType t);  // "f32", "f16", "bf16"
std::string ct_num(float v);    // 9 significant digits

}  // namespace gq
