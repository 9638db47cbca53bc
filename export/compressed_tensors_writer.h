// The streaming half of the compressed-tensors exporter: writes each item a chunk of rows at a
// time from the memory-mapped checkpoint, quantized on all cores, appended to the shard writer.
#pragma once
#include <cstdint>
#include <set>
#include <string>

#include "export/compressed_tensors_inputs.h"
#include "export/compressed_tensors_items.h"
#include "export/compressed_tensors_safetensors.h"
#include "formats/safetensors.h"
#include "quant/weight.h"

namespace gq::compressed_tensors {

struct ItemWriter {
  const Inputs& in;
  std::string out;  // output folder, for messages
  DType model = DType::BF16;  // the float dtype; scales are stored in each scheme's scale dtype
  int threads = 1;
  size_t chunk_bytes = size_t(64) << 20;
  std::set<std::string> learned;  // modules written with the run's learned scales / zero points

  void write_float(const Item& it, const Checkpoint& ck, ShardWriter& w) const;
  // RTN, or the run's learned scales / zero points (`learned`) rounded to the scheme's scale dtype.
  void write_quantized(const Item& it, const Checkpoint& ck, ShardWriter& w) const;
};

}  // namespace gq::compressed_tensors
