// How the compressed-tensors exporter's messages spell dtypes and values.
#pragma once
#include <cstdio>
#include <string>

#include "io/dtype.h"

namespace gq::compressed_tensors {

// "f32", "f16", "bf16": the spelling of --scale-dtype.
inline std::string flag_dtype_name(DType t) { return t == DType::F32 ? "f32" : t == DType::F16 ? "f16" : "bf16"; }

// 9 significant digits: every float32 value reads back exactly.
inline std::string exact_float(float v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.9g", double(v));
  return b;
}

}  // namespace gq::compressed_tensors
