#include "io/dtype.h"

namespace gq {

namespace {

struct DTypeInfo {
  DType type;
  const char* name;
  size_t size;
  bool is_float;
};

// One row per enumerator, in enum order, so that lookup by value is an index.
constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "F64", 8, true},    {DType::F32, "F32", 4, true},  {DType::F16, "F16", 2, true},
    {DType::BF16, "BF16", 2, true},  {DType::I64, "I64", 8, false}, {DType::I32, "I32", 4, false},
    {DType::I16, "I16", 2, false},   {DType::I8, "I8", 1, false},   {DType::U8, "U8", 1, false},
    {DType::BOOL, "BOOL", 1, false},
};

const DTypeInfo& info(DType t) { return kDTypes[static_cast<size_t>(t)]; }

}  // namespace

size_t dtype_size(DType t) { return info(t).size; }

const char* dtype_name(DType t) { return info(t).name; }

bool dtype_is_float(DType t) { return info(t).is_float; }

std::optional<DType> dtype_from_name(const std::string& name) {
  for (const DTypeInfo& d : kDTypes)
    if (name == d.name) return d.type;
  return std::nullopt;
}

}  // namespace gq
