// ggml's tensor types as data: id, name, values per block and bytes per block. The one table that
// the GGUF container, the codecs' block sizes, the memory plan and the fake-quant path all read.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace gq {

enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39, NVFP4 = 40, Q1_0 = 41, Q2_0 = 42,
};
constexpr uint32_t kGgmlTypeCount = 43;  // GGML_TYPE_COUNT of llama.cpp v0.5.0 (node-llama-cpp 3.22.1)

struct GgmlTypeInfo {
  const char* name;    // "F32", "Q4_0", ... as ggml_type_name prints them
  int64_t block;       // values per block (1 for plain types)
  size_t block_bytes;  // bytes per block
};
// nullptr for ids ggml does not (or no longer) accept in files (4, 5, 31-33, 36-38, >= 43).
const GgmlTypeInfo* ggml_type_info(uint32_t id);
const char* ggml_type_name(GgmlType t);
// "f32", "F16", "q4_0", ... (case-insensitive); nullopt if unknown.
std::optional<GgmlType> ggml_type_from_name(const std::string& name);
// Bytes of one row of ne0 values; throws FormatError unless ne0 is a multiple of the block.
uint64_t ggml_row_bytes(GgmlType t, int64_t ne0);

}  // namespace gq
