// Reading the Hugging Face reference fixtures (tests/data/gemma4-tiny) into tensors.
#pragma once
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "io/error.h"
#include "formats/safetensors.h"

namespace gq::test {

inline std::string fixture_dir(const std::string& name) { return std::string(GQ_TEST_DATA) + "/gemma4-tiny/" + name; }

inline at::Tensor read_f32(const SafetensorsFile& f, const std::string& name) {
  const TensorView& tv = f.tensor(name);
  at::Tensor t = at::empty(tv.shape, at::kFloat);
  tv.to_f32(t.data_ptr<float>());
  return t;
}

inline std::vector<int64_t> read_i64(const SafetensorsFile& f, const std::string& name) {
  const TensorView& tv = f.tensor(name);
  if (tv.dtype != DType::I64) throw FormatError(name + ": expected I64");
  std::vector<int64_t> v(size_t(tv.numel()));
  std::memcpy(v.data(), tv.data, tv.nbytes);
  return v;
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

}  // namespace gq::test
