#include "quant/ggml_types.h"

#include <cctype>

#include "io/error.h"

namespace gq {

namespace {

// Block sizes and bytes from ggml's type_traits (llama.cpp v0.5.0, checked with sizeof on the
// block structs of its ggml-common.h).
const GgmlTypeInfo kTypes[kGgmlTypeCount] = {
    {"F32", 1, 4},       {"F16", 1, 2},       {"Q4_0", 32, 18},    {"Q4_1", 32, 20},   {nullptr, 0, 0},
    {nullptr, 0, 0},     {"Q5_0", 32, 22},    {"Q5_1", 32, 24},    {"Q8_0", 32, 34},   {"Q8_1", 32, 36},
    {"Q2_K", 256, 84},   {"Q3_K", 256, 110},  {"Q4_K", 256, 144},  {"Q5_K", 256, 176}, {"Q6_K", 256, 210},
    {"Q8_K", 256, 292},  {"IQ2_XXS", 256, 66}, {"IQ2_XS", 256, 74}, {"IQ3_XXS", 256, 98}, {"IQ1_S", 256, 50},
    {"IQ4_NL", 32, 18},  {"IQ3_S", 256, 110}, {"IQ2_S", 256, 82},  {"IQ4_XS", 256, 136}, {"I8", 1, 1},
    {"I16", 1, 2},       {"I32", 1, 4},       {"I64", 1, 8},       {"F64", 1, 8},      {"IQ1_M", 256, 56},
    {"BF16", 1, 2},      {nullptr, 0, 0},     {nullptr, 0, 0},     {nullptr, 0, 0},    {"TQ1_0", 256, 54},
    {"TQ2_0", 256, 66},  {nullptr, 0, 0},     {nullptr, 0, 0},     {nullptr, 0, 0},    {"MXFP4", 32, 17},
    {"NVFP4", 64, 36},   {"Q1_0", 128, 18},   {"Q2_0", 64, 18},
};

}  // namespace

const GgmlTypeInfo* ggml_type_info(uint32_t id) {
  if (id >= kGgmlTypeCount || kTypes[id].name == nullptr) return nullptr;
  return &kTypes[id];
}

const char* ggml_type_name(GgmlType t) {
  const GgmlTypeInfo* info = ggml_type_info(uint32_t(t));
  return info ? info->name : "?";
}

std::optional<GgmlType> ggml_type_from_name(const std::string& name) {
  std::string up;
  for (char c : name) up += char(std::toupper(static_cast<unsigned char>(c)));
  for (uint32_t i = 0; i < kGgmlTypeCount; ++i)
    if (kTypes[i].name && up == kTypes[i].name) return GgmlType(i);
  return std::nullopt;
}

uint64_t ggml_row_bytes(GgmlType t, int64_t ne0) {
  const GgmlTypeInfo* info = ggml_type_info(uint32_t(t));
  if (!info) throw FormatError("unknown ggml type " + std::to_string(uint32_t(t)));
  if (ne0 < 0 || ne0 % info->block != 0)
    throw FormatError(std::string(info->name) + " needs rows that are a multiple of " + std::to_string(info->block) +
                      " values, got " + std::to_string(ne0));
  return uint64_t(ne0 / info->block) * info->block_bytes;
}

}  // namespace gq
