// An independent reader of compressed-tensors exports, written here apart from the writer: its
// own int32 unpacking, its own dequantization ((level - z) * s, rounded to the scale dtype as a bf16
// runtime does), raw safetensors headers checked for the contiguity the reference readers demand;
// and the source tensors the written values are compared with, bit for bit, through the codecs'
// fake quant.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "formats/safetensors.h"
#include "io/dtype.h"
#include "quant/scheme.h"

namespace gq::ct_test {

using nlohmann::json;

int32_t i32_at(const TensorView& t, int64_t i);
// Field `k` (bits wide, LSB first) of a word, minus the 2^(bits-1) offset.
int field(int32_t word, int k, int bits);

struct Decoded {
  int64_t rows = 0, cols = 0, spr = 0;
  std::vector<int> levels, zero_points;  // [rows, cols], [rows, spr]
  std::vector<float> scales;              // [rows, spr], as stored (exact in float32)
  DType scale_dtype = DType::F32;
};

Decoded decode_packed(const Checkpoint& ck, const std::string& m);
Decoded decode_int8(const Checkpoint& ck, const std::string& m);
// What a runtime computing in the scale's dtype gets: (level - z) * s, rounded to that dtype.
std::vector<float> dequant(const Decoded& d);

void expect_bits_equal(const std::vector<float>& got, const std::vector<float>& want, const std::string& what);
// Every shard's data block is exactly covered, tensor after tensor: the Rust / Go safetensors
// readers (transformers, vLLM) reject any gap. Returns the number of tensors and the data bytes.
std::pair<size_t, uint64_t> expect_contiguous(const std::filesystem::path& file);

json config_of(const std::string& out);  // out/config.json
std::set<std::string> strings(const json& a);

// Tensors by name: shape and values as f32.
using Tensors = std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>;
Tensors load_all(const std::string& dir);
void save_all(const std::string& path, const Tensors& t);  // as F32
std::vector<float> rows_of(const Tensors& t, const std::string& name, int64_t row0, int64_t rows, int64_t cols);

// Source rows of an output module ("model.layers.0.experts.3.up_proj" -> rows of the bank).
struct Source {
  std::string tensor, module;
  int64_t row0, rows, cols;
};
Source source_of(const Tensors& t, const std::string& out_module);

// Output modules holding quantized weights, from the written files.
std::vector<std::string> modules_with(const Checkpoint& ck, const std::string& suffix);
// Every pack-quantized module decodes to the codec's fake-quant of its source rows under `scheme`.
void expect_packed_equals_fake_quant(const std::string& out, const Tensors& src, const quant::WeightScheme& scheme,
                                     size_t expected_modules);
// The written float tensors are the source rounded to `t`.
void expect_floats(const std::string& out, const Tensors& src, DType t);

}  // namespace gq::ct_test
