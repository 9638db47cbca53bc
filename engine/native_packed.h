// A native file's channel-wise Linear or head weight kept packed for fast mode
// (engine/channel_linear.h): the file's packed levels copied as they are (no float copy) and one
// float scale per row, with the same checks decode_native_tensor makes (levels within the scheme's
// range, scales finite).
#pragma once
#include <optional>
#include <string>

#include "engine/channel_linear.h"
#include "formats/native_format.h"

namespace gq::engine {

// Whether the integer kernel takes `t` as stored: CHANNEL encoding, symmetric, 8, 4 or 2 bits.
bool has_channel_kernel(const native::TensorDesc& t);

// `t` packed; FormatError naming `what` (file and tensor) for a level outside the scheme's range or
// a scale that is not finite, or when has_channel_kernel(t.desc) is false.
PackedChannelWeight pack_channel_weight(const native::TensorEntry& t, const std::string& what);

}  // namespace gq::engine
