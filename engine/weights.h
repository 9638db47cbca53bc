// Every Gemma 4 text tensor a forward pass reads: from a Hugging Face safetensors checkpoint (any
// float dtype) or from a GGUF file (F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q2_0/Q6_K). In exact mode every
// tensor is float32, dequantized as ggml does, and the engine computes on the stored values exactly,
// so a quantized file is judged on what it holds and nothing else. In fast mode the quantized
// tensors stay in their stored blocks (no float copy) for the integer kernels (engine/int_dot.h).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/gemma4_config.h"
#include "quant/ggml_types.h"

namespace gq {
class GgufFile;
}

namespace gq::engine {

struct ActivationQuantization;  // engine/activation_quant.h

// A tensor row-major in the PyTorch shape ([out, in] for a Linear), held one of three ways:
// - float32 values in `data`;
// - (fast mode, a quantized GGUF tensor; or any GGUF per-layer embedding table) its GGUF blocks,
//   rows of shape.back() values, either in place in the file's read-only mapping (`mapped`, kept
//   mapped by `mapping`) or copied into `packed`;
// - (a native file's per-layer embedding table) `decode_row`, which decodes one row from the
//   mapped file on demand.
// The last two are not resident: only the pages of rows that are read come into memory.
struct Tensor {
  Tensor() = default;
  Tensor(std::vector<int64_t> shape_, std::vector<float> data_) : shape(std::move(shape_)), data(std::move(data_)) {}

  std::vector<int64_t> shape;
  std::vector<float> data;
  GgmlType packed_type = GgmlType::F32;
  std::vector<uint8_t> packed;
  const uint8_t* mapped = nullptr;
  size_t mapped_size = 0;
  std::shared_ptr<const void> mapping;
  std::function<void(int64_t row, float* out)> decode_row;

  const float* ptr() const { return data.data(); }
  bool is_packed() const { return mapped != nullptr || !packed.empty(); }
  const uint8_t* packed_data() const { return mapped ? mapped : packed.data(); }
  size_t packed_size() const { return mapped ? mapped_size : packed.size(); }
  bool is_row_decoded() const { return bool(decode_row); }
  int64_t row_size() const { return shape.back(); }
  size_t packed_row_bytes() const { return size_t(ggml_row_bytes(packed_type, shape.back())); }
  // Bytes the tensor holds in its own memory (values or copied blocks; a mapping counts none).
  size_t bytes() const { return data.size() * sizeof(float) + packed.size(); }
  // Bytes it reads in place from a file mapping.
  size_t mapped_bytes() const { return mapped_size; }
};

// How GGUF tensors are held: Exact widens all to float32 (what the fake-quant model computes),
// Fast keeps quantized ones packed for the integer kernels.
enum class WeightForm { Exact, Fast };

class ModelWeights {
 public:
  // A checkpoint folder (config.json + model.safetensors or shards), Gemma4ForCausalLM or
  // Gemma4ForConditionalGeneration. FormatError naming the file and tensor when a tensor is missing,
  // misshapen or not float.
  static ModelWeights load_safetensors(const std::string& dir);
  // A GGUF written by our exporter, read against `cfg` (the config.json of the checkpoint it was
  // exported from). FormatError naming the file and tensor when a tensor is missing, its shape is
  // not the config's, or its type is not one the engine decodes.
  static ModelWeights load_gguf(const std::string& path, const Gemma4Config& cfg, WeightForm form = WeightForm::Exact);
  // The same with the config rebuilt from the file's gemma4.* keys and tensors (engine/gguf_config.h).
  static ModelWeights load_gguf(const std::string& path, WeightForm form = WeightForm::Exact);

  // load_gguf on a file already open.
  static ModelWeights from_gguf(const GgufFile& file, const Gemma4Config& cfg, WeightForm form = WeightForm::Exact);
  // Tensors a loader of another format has decoded, by spec name; `source` names them in errors.
  static ModelWeights from_tensors(Gemma4Config cfg, std::string source, std::map<std::string, Tensor> tensors);

  const Gemma4Config& config() const { return config_; }
  const std::string& source() const { return source_; }
  // Fast: loaded with WeightForm::Fast (the decoder then also takes ggml's GELU table).
  WeightForm form() const { return form_; }
  // By spec name (no checkpoint prefix): "layers.0.mlp.up_proj.weight".
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const Tensor* find(const std::string& name) const;
  const Tensor& get(const std::string& name) const;  // FormatError naming the source if absent
  // The output projection: lm_head.weight when the file has its own head (untied, or a GGUF that
  // stores output.weight beside a tied table), else the embedding table.
  const Tensor& head() const;
  size_t size() const { return tensors_.size(); }
  // Bytes of all tensors held in memory of their own (not counting those read from a mapping), and
  // of the packed weights fast mode keeps for a native file's integer Linears.
  size_t bytes() const;
  // Bytes of all tensors read in place from file mappings (resident only as far as they are read).
  size_t mapped_bytes() const;

  // The static activation and KV-cache fake quantization the source states (a native file's); null
  // for none: the forward then runs in plain float32.
  const ActivationQuantization* activation_quantization() const { return activation_quant_.get(); }
  void set_activation_quantization(std::shared_ptr<const ActivationQuantization> a) { activation_quant_ = std::move(a); }

 private:
  Gemma4Config config_;
  std::string source_;
  WeightForm form_ = WeightForm::Exact;
  std::map<std::string, Tensor> tensors_;
  std::shared_ptr<const ActivationQuantization> activation_quant_;
};

}  // namespace gq::engine
