// Sub-byte integer packings used by the non-GGUF formats. Levels are signed integers in
// [-2^(bits-1), 2^(bits-1) - 1] stored one per int8_t; bits must be 1, 2, 4 or 8.
#pragma once
#include <cstddef>
#include <cstdint>

namespace gq::quant {

// --- compressed-tensors "pack-quantized" (pack_to_int32 / unpack_from_int32) --------------------
// Each value is offset by +2^(bits-1) (int4: -8..7 -> 0..15), then packed densely LSB-first into
// int32 words: element k of a row sits at bits [bits * (k % (32/bits)), +bits) of word
// k / (32/bits) — for int4, 8 values per word, first element in the lowest nibble. A row whose
// length is not a multiple of 32/bits is padded with raw 0 bits. The words are int32 in host order;
// safetensors stores them little-endian (all supported hosts are little-endian).

// Words per packed row: ceil(cols * bits / 32).
int64_t ct_packed_cols(int64_t cols, int bits);
// Pack along the last dim (weights): out is [rows, ct_packed_cols(cols, bits)].
void ct_pack_rows(const int8_t* levels, int32_t* out, int64_t rows, int64_t cols, int bits);
void ct_unpack_rows(const int32_t* in, int8_t* levels, int64_t rows, int64_t cols, int bits);
// Pack along dim 0 (asymmetric zero points, packed_dim=0): values [rows, cols] ->
// out [ct_packed_cols(rows, bits), cols]; word (w, c) holds rows 32/bits*w .. of column c.
void ct_pack_cols(const int8_t* values, int32_t* out, int64_t rows, int64_t cols, int bits);
void ct_unpack_cols(const int32_t* in, int8_t* values, int64_t rows, int64_t cols, int bits);

// --- TFLite / LiteRT dense packing (tensor_utils PackInt8IntoDenseInt / UnpackDenseIntIntoInt8) ---
// Two's complement, no offset, over the flattened tensor: element k sits in byte k / (8/bits) at
// bits [bits * (k % (8/bits)), +bits). int4: element 2i in the low nibble, 2i+1 in the high one;
// int2: element 4i in bits 0-1. Unused high bits of the last byte are 0.
size_t tflite_packed_bytes(int64_t n, int bits);  // ceil(n * bits / 8)
void tflite_pack(const int8_t* levels, uint8_t* out, int64_t n, int bits);
void tflite_unpack(const uint8_t* in, int8_t* levels, int64_t n, int bits);

}  // namespace gq::quant
