// A native file (formats/native_format.h, docs/native-format.md) as engine weights: every tensor
// decoded to the floats the fake-quant model computes with (ggml blocks as ggml dequantizes them,
// channel / group levels times their scale in the scale's dtype, floats widened), checked against
// the file's own config (every tensor of the model present, shaped as the config implies, nothing
// else), with the file's static activation scales and KV-cache scheme attached
// (engine/activation_quant.h), so that the forward computes what the fake-quant model computes.
#pragma once
#include <string>

#include "engine/weights.h"
#include "formats/native_format.h"

namespace gq::engine {

// FormatError naming the file and the field or tensor for anything the file gets wrong.
// WeightForm::Fast keeps every channel-wise Linear and head weight with an 8-bit symmetric bf16 /
// f16 static input scheme packed for the integer kernel (engine/channel_linear.h,
// engine/native_packed.h) instead of decoding it: such a weight tensor holds no float32 values (it
// decodes rows from the map if asked). Exact computes in float.
ModelWeights load_native(const std::string& path, const native::ReadOptions& opt = {}, WeightForm form = WeightForm::Exact);
ModelWeights from_native(const native::NativeFile& file, WeightForm form = WeightForm::Exact);

// Rows [row0, row0 + nrows) of a tensor's values into y (nrows * cols floats), each the value
// decode_native_tensor gives; FormatError as it. `source` names the file.
void decode_native_rows(const std::string& source, const native::TensorEntry& t, int64_t row0, int64_t nrows, float* y);
// One tensor's values, decoded. FormatError naming the file and tensor for a level outside its
// scheme's range or a scale that is not finite.
std::vector<float> decode_native_tensor(const native::NativeFile& file, const native::TensorEntry& t);

// Element i of a stored float array of dtype `t` (F32, F16 or BF16), widened to float32.
float float_at(const uint8_t* p, DType t, int64_t i);

// Whether `path` names a native file by its extension (".gqn").
bool is_native_path(const std::string& path);

}  // namespace gq::engine
