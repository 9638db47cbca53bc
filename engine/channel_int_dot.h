// Fast mode's integer dot for native mobile files (issue 13): one row of static int8 activation
// codes (quant/activation.h, int8_sym: -128..127) times one row of channel-wise packed weight
// levels (docs/native-format.md "Packed levels": int8, int4 or int2, two's complement), summed
// exactly in integers. The result is the int32 sum itself, so every instruction set gives the same
// value by construction (no float summation order to fix); the caller rescales it once per output
// by the activation scale and the row's channel scale.
//
// Exactness bound: |a| <= 128 and |w| <= 128, so n * 128 * 128 <= 2^31 - 1 holds for n <= 131071;
// longer rows are refused (kMaxChannelDotLength).
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine/int_dot.h"

namespace gq::engine {

constexpr int64_t kMaxChannelDotLength = 131071;

// Bytes of one packed row of n levels `bits` wide (8, 4 or 2).
size_t channel_row_bytes(int bits, int64_t n);

using ChannelDotFn = int32_t (*)(const uint8_t* w, const int8_t* a, int64_t n);
// The kernel for `bits`-wide levels on `isa` (which must be supported); nullptr for other widths.
ChannelDotFn channel_int_dot_kernel(int bits, Isa isa);

// Σ level_i · a_i over one packed weight row and n activation codes, on `isa`. FormatError for a
// width without a kernel or n outside [0, kMaxChannelDotLength].
int32_t channel_int_dot(int bits, const uint8_t* w, const int8_t* a, int64_t n, Isa isa);

// rows packed weight rows (channel_row_bytes apart) against one activation row: out[r] is
// channel_int_dot of row r, rows split over the engine's thread pool (integer results, so the
// split cannot change them).
void channel_int_matvec(int bits, const uint8_t* w, int64_t rows, const int8_t* a, int64_t n, int32_t* out, Isa isa);

}  // namespace gq::engine
