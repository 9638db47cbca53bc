// Element types as safetensors names them (GGUF types live with the GGUF writer).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace gq {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

size_t dtype_size(DType t);
const char* dtype_name(DType t);                       // "F32", "BF16", ...
std::optional<DType> dtype_from_name(const std::string& name);
bool dtype_is_float(DType t);

}  // namespace gq
