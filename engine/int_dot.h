// Fast mode's integer dot products, as ggml's CPU backend computes a GGUF matmul: the activation
// row is quantized to Q8_0 blocks (ggml's reference quantize_row_q8_0), each 32-value block of a
// weight row times its activation block is an exact int32 sum, and the block sums are scaled by
// the two fp16 scales and added in float.
//
// The float summation order is fixed, so every instruction set gives the same float bit for bit
// (tests/engine/int_dot_test.cpp): a block's 32 products form 8 int32 group sums s[g] (values
// 4g..4g+3, the lanes of a maddubs/madd or a dpbusd); block b (b counted in 32-value activation
// blocks along the row) adds float(s[g]) * (d_w * d_a) into lane g of accumulator set b % 2
// (a multiply, then an add: no fused multiply-add anywhere); at the end lane g of set 0 plus lane
// g of set 1, then pairs 4 apart, 2 apart, 1 apart: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
//
// Weight types with a kernel: Q4_0, Q8_0, Q2_0 (blocks of 64 = two activation blocks with one
// weight scale). Other stored types go through the float path (engine/ops.cpp).
#pragma once
#include <cstddef>
#include <cstdint>

#include "quant/ggml_types.h"

namespace gq::engine {

constexpr int64_t kQ8Block = 32;        // activation values per Q8_0 block
constexpr size_t kQ8BlockBytes = 34;    // fp16 d, then 32 int8 codes

enum class Isa { Scalar, Avx2, Avx512Vnni };
const char* isa_name(Isa isa);
// Whether this CPU runs `isa` (__builtin_cpu_supports); Scalar always.
bool isa_supported(Isa isa);
// The best supported one, chosen once; GQ_ENGINE_ISA=scalar|avx2|avx512vnni in the environment
// forces one (refused with a one-line error if this CPU lacks it).
Isa selected_isa();

// Whether fast mode has an integer kernel for weights of `type`.
bool has_int_kernel(GgmlType type);

// n activation values (a multiple of 32) as Q8_0 blocks, bytes exactly ggml's quantize_row_q8_0_ref
// (d = amax / 127, codes roundf(x / d)): n / 32 * 34 bytes at `out`.
void quantize_activations_q8_0(const float* x, int64_t n, uint8_t* out);

using IntDotFn = float (*)(const uint8_t* w, const uint8_t* a, int64_t n);
// The kernel for `type` weights on `isa` (supported), nullptr when the type has none.
IntDotFn int_dot_kernel(GgmlType type, Isa isa);

// Four weight rows `stride` bytes apart against one activation row: out[r] is exactly what the
// one-row kernel gives for row r (the activation blocks are loaded once). nullptr where `isa` has
// no such kernel for `type` (then the one-row kernel is used four times).
using IntDot4Fn = void (*)(const uint8_t* w, size_t stride, const uint8_t* a, int64_t n, float* out);
IntDot4Fn int_dot4_kernel(GgmlType type, Isa isa);

// Σ w_i a_i over one weight row of n values stored as `type` blocks and its activation row as
// Q8_0 blocks, in the order above, on `isa` (which must be supported). `type` must have a kernel.
float int_dot(GgmlType type, const uint8_t* w, const uint8_t* a, int64_t n, Isa isa);

// Q4_0 weights on AVX-512 VNNI against activation rows repacked once per row
// (pack_activations_for_q4_0): the Q8_0 activation codes in the lane order of one nibble decode,
// with -8 times their group sums as dpbusd's starting value, so a block pair costs a decode, one
// dpbusd and the scale multiply per row (no sign trick). Same floats as int_dot, bit for bit.
// Whether it applies: Q4_0, Avx512Vnni, n a multiple of 64 (an even number of blocks).
bool has_packed_q4_0_kernel(GgmlType type, Isa isa, int64_t n);
size_t packed_activation_bytes(int64_t n);
// One Q8_0 activation row (n / 32 * 34 bytes) into packed_activation_bytes(n) bytes at `out`.
void pack_activations_for_q4_0(const uint8_t* q8, int64_t n, uint8_t* out);
// `rows` (1..4) weight rows `w_stride` bytes apart times `cols` (1..4) packed activation rows
// `a_stride` bytes apart: out[c * out_stride + r] = int_dot(Q4_0, row r, activation c). Each weight
// block pair is decoded once for all `cols` activation rows (prefill's blocking).
void q4_0_packed_tile(int rows, int cols, const uint8_t* w, size_t w_stride, const uint8_t* a, size_t a_stride,
                      int64_t n, float* out, size_t out_stride);

}  // namespace gq::engine
