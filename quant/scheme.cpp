#include "quant/scheme.h"

#include <regex>

#include "quant/q2_0.h"
#include "quant/q4_0.h"
#include "quant/q8_0.h"
#include "quant/validate.h"

namespace gq::quant {
namespace {

const char* kWeightNames =
    "q4_0, q8_0, q2_0, int{8,4,2}_channel, int{4,8}_g{32,64,128}[_sym|_asym], with an optional "
    "@bf16 / @f16 scale dtype on channel and group schemes";

const char* dtype_suffix(DType t) {
  switch (t) {
    case DType::F16: return "@f16";
    case DType::BF16: return "@bf16";
    default: return "";
  }
}

}  // namespace

const char* rounding_name(Rounding r) {
  switch (r) {
    case Rounding::kHalfEven: return "half_even";
    case Rounding::kHalfAway: return "half_away";
    case Rounding::kHalfUp: return "half_up";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// Weights

int WeightScheme::qmin() const {
  switch (kind) {
    case WeightKind::kQ4_0: return kQ4_0LevelMin;
    case WeightKind::kQ8_0: return kQ8_0LevelMin;
    case WeightKind::kQ2_0: return kQ2_0LevelMin;
    case WeightKind::kChannel: return bits == 8 ? -127 : -(1 << (bits - 1));  // narrow for int8
    case WeightKind::kGroup: return -(1 << (bits - 1));
  }
  return 0;
}

int WeightScheme::qmax() const {
  switch (kind) {
    case WeightKind::kQ4_0: return kQ4_0LevelMax;
    case WeightKind::kQ8_0: return kQ8_0LevelMax;
    case WeightKind::kQ2_0: return kQ2_0LevelMax;
    case WeightKind::kChannel:
    case WeightKind::kGroup: return (1 << (bits - 1)) - 1;
  }
  return 0;
}

Rounding WeightScheme::rounding() const {
  switch (kind) {
    case WeightKind::kQ4_0: return Rounding::kHalfUp;
    case WeightKind::kQ8_0:
    case WeightKind::kQ2_0: return Rounding::kHalfAway;
    default: return Rounding::kHalfEven;
  }
}

bool WeightScheme::is_gguf() const {
  return kind == WeightKind::kQ4_0 || kind == WeightKind::kQ8_0 || kind == WeightKind::kQ2_0;
}

uint32_t WeightScheme::ggml_type() const {
  switch (kind) {
    case WeightKind::kQ4_0: return kGgmlTypeQ4_0;
    case WeightKind::kQ8_0: return kGgmlTypeQ8_0;
    case WeightKind::kQ2_0: return kGgmlTypeQ2_0;
    default: fail("quant scheme " + weight_scheme_name(*this) + " is not a GGUF block type");
  }
}

int64_t WeightScheme::block_size(int64_t cols) const {
  return kind == WeightKind::kChannel ? cols : group;
}

int64_t WeightScheme::scales_per_row(int64_t cols) const {
  if (kind == WeightKind::kChannel) return 1;
  const std::string name = weight_scheme_name(*this);
  check_shape(name.c_str(), 0, cols, group, is_gguf() ? "block" : "group");
  return cols / group;
}

bool operator==(const WeightScheme& a, const WeightScheme& b) {
  return a.kind == b.kind && a.bits == b.bits && a.group == b.group &&
         a.symmetric == b.symmetric && a.scale_dtype == b.scale_dtype;
}

WeightScheme q4_0_scheme() { return {WeightKind::kQ4_0, 4, kQ4_0Block, true, DType::F16}; }
WeightScheme q8_0_scheme() { return {WeightKind::kQ8_0, 8, kQ8_0Block, true, DType::F16}; }
WeightScheme q2_0_scheme() { return {WeightKind::kQ2_0, 2, kQ2_0Block, true, DType::F16}; }

WeightScheme channel_scheme(int bits, DType scale_dtype) {
  WeightScheme s{WeightKind::kChannel, bits, 0, true, scale_dtype};
  validate(s);
  return s;
}

WeightScheme group_scheme(int bits, int64_t group, bool symmetric, DType scale_dtype) {
  WeightScheme s{WeightKind::kGroup, bits, group, symmetric, scale_dtype};
  validate(s);
  return s;
}

void validate(const WeightScheme& s) {
  auto bad = [&](const std::string& why) { fail("invalid weight quant scheme: " + why); };
  switch (s.kind) {
    case WeightKind::kQ4_0:
    case WeightKind::kQ8_0:
    case WeightKind::kQ2_0: {
      const WeightScheme ref = s.kind == WeightKind::kQ4_0   ? q4_0_scheme()
                               : s.kind == WeightKind::kQ8_0 ? q8_0_scheme()
                                                             : q2_0_scheme();
      if (!(s == ref)) bad("GGUF block types have fixed bits, block size and fp16 scales");
      return;
    }
    case WeightKind::kChannel:
      if (s.bits != 8 && s.bits != 4 && s.bits != 2)
        bad("channel-wise supports 8, 4 or 2 bits, not " + std::to_string(s.bits));
      if (s.group != 0) bad("channel-wise schemes have group = 0 (one scale per row)");
      if (!s.symmetric) bad("channel-wise schemes are symmetric");
      break;
    case WeightKind::kGroup:
      if (s.bits != 4 && s.bits != 8)
        bad("group-wise supports 4 or 8 bits, not " + std::to_string(s.bits));
      if (s.group != 32 && s.group != 64 && s.group != 128)
        bad("group size must be 32, 64 or 128, not " + std::to_string(s.group));
      break;
    default: bad("unknown kind");
  }
  if (s.scale_dtype != DType::F32 && s.scale_dtype != DType::F16 && s.scale_dtype != DType::BF16)
    bad("scale dtype must be F32, F16 or BF16");
}

WeightScheme parse_weight_scheme(const std::string& name) {
  if (name == "q4_0") return q4_0_scheme();
  if (name == "q8_0") return q8_0_scheme();
  if (name == "q2_0") return q2_0_scheme();
  static const std::regex re(
      R"(int([0-9]+)_(channel|g([0-9]+)(_sym|_asym)?)(@(f32|f16|bf16))?)");
  std::smatch m;
  auto unknown = [&]() -> WeightScheme {
    fail("unknown weight quant scheme '" + name + "' (expected " + kWeightNames + ")");
  };
  if (!std::regex_match(name, m, re) || m[1].length() > 3 || m[3].length() > 4) return unknown();
  DType sd = DType::F32;
  if (m[6].matched) sd = m[6] == "f16" ? DType::F16 : (m[6] == "bf16" ? DType::BF16 : DType::F32);
  const int bits = std::stoi(m[1]);
  WeightScheme s;
  if (m[2] == "channel") {
    s = {WeightKind::kChannel, bits, 0, true, sd};
  } else {
    s = {WeightKind::kGroup, bits, std::stoll(m[3]), m[4] != "_asym", sd};
  }
  try {
    validate(s);
  } catch (const std::exception& e) {
    fail("unsupported weight quant scheme '" + name + "': " + e.what() + " (expected " +
         kWeightNames + ")");
  }
  return s;
}

std::string weight_scheme_name(const WeightScheme& s) {
  switch (s.kind) {
    case WeightKind::kQ4_0: return "q4_0";
    case WeightKind::kQ8_0: return "q8_0";
    case WeightKind::kQ2_0: return "q2_0";
    case WeightKind::kChannel:
      return "int" + std::to_string(s.bits) + "_channel" + dtype_suffix(s.scale_dtype);
    case WeightKind::kGroup:
      return "int" + std::to_string(s.bits) + "_g" + std::to_string(s.group) +
             (s.symmetric ? "" : "_asym") + dtype_suffix(s.scale_dtype);
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// Activations

int ActivationScheme::qmin() const {
  const int full = -(1 << (bits - 1));
  return symmetric && narrow ? full + 1 : full;
}
int ActivationScheme::qmax() const { return (1 << (bits - 1)) - 1; }

bool operator==(const ActivationScheme& a, const ActivationScheme& b) {
  return a.bits == b.bits && a.symmetric == b.symmetric && a.narrow == b.narrow &&
         a.rounding == b.rounding && a.compute_dtype == b.compute_dtype;
}

void validate(const ActivationScheme& s) {
  if (s.bits != 8 && s.bits != 16)
    fail("invalid activation quant scheme: bits must be 8 or 16, not " + std::to_string(s.bits));
  if (!s.symmetric && s.narrow) fail("invalid activation quant scheme: narrow range is symmetric-only");
  if (!s.symmetric && s.bits != 8)
    fail("invalid activation quant scheme: asymmetric activations are int8 only");
  if (s.rounding == Rounding::kHalfUp)
    fail("invalid activation quant scheme: rounding must be half_even or half_away");
  if (s.compute_dtype != DType::F32 && s.compute_dtype != DType::BF16 && s.compute_dtype != DType::F16)
    fail("invalid activation quant scheme: compute dtype must be F32, BF16 or F16");
  // vLLM's fake quant in the activation dtype is symmetric int8 with torch.round (half-even).
  if (s.compute_dtype != DType::F32 && (s.bits != 8 || !s.symmetric || s.rounding != Rounding::kHalfEven))
    fail("invalid activation quant scheme: a compute dtype (@bf16 / @f16) applies to int8_sym[_narrow] only");
}

ActivationScheme parse_activation_scheme(const std::string& name) {
  static const std::regex re(R"(int(8|16)_(sym|asym)(_narrow|_full)?(_rna)?(@(bf16|f16))?)");
  std::smatch m;
  const char* expected =
      "int8_sym[_narrow], int8_asym, int16_sym[_full], optionally ending in _rna; int8_sym[_narrow]@bf16 / @f16";
  if (!std::regex_match(name, m, re))
    fail("unknown activation quant scheme '" + name + "' (expected " + expected + ")");
  ActivationScheme s;
  s.bits = m[1] == "8" ? 8 : 16;
  s.symmetric = m[2] == "sym";
  s.narrow = s.symmetric && s.bits == 16;  // defaults: int8 full range (vLLM), int16 narrow (LiteRT)
  if (m[3].matched) {
    if (!s.symmetric)
      fail("unknown activation quant scheme '" + name + "': _narrow/_full apply to _sym only");
    s.narrow = m[3] == "_narrow";
  }
  if (m[4].matched) s.rounding = Rounding::kHalfAway;
  if (m[6].matched) s.compute_dtype = m[6] == "bf16" ? DType::BF16 : DType::F16;
  try {
    validate(s);
  } catch (const std::exception& e) {
    fail("unsupported activation quant scheme '" + name + "': " + e.what());
  }
  return s;
}

std::string activation_scheme_name(const ActivationScheme& s) {
  std::string n = "int" + std::to_string(s.bits) + (s.symmetric ? "_sym" : "_asym");
  if (s.symmetric) {
    const bool default_narrow = s.bits == 16;
    if (s.narrow != default_narrow) n += s.narrow ? "_narrow" : "_full";
  }
  if (s.rounding == Rounding::kHalfAway) n += "_rna";
  return n + dtype_suffix(s.compute_dtype);
}

// ---------------------------------------------------------------------------------------------
// KV cache

int KvScheme::qmin() const { return bits == 8 ? -127 : -8; }
int KvScheme::qmax() const { return bits == 8 ? 127 : 7; }

int64_t KvScheme::row_bytes(int64_t head_dim) const {
  if (ggml_blocks) return head_dim / 32 * (bits == 8 ? 34 : 18);  // block_q8_0 / block_q4_0
  return (head_dim * bits + 7) / 8 + 4;                          // codes + the float32 row scale
}

bool operator==(const KvScheme& a, const KvScheme& b) { return a.bits == b.bits && a.ggml_blocks == b.ggml_blocks; }

void validate(const KvScheme& s) {
  if (s.bits != 8 && s.bits != 4)
    fail("invalid KV-cache quant scheme: bits must be 8 or 4, not " + std::to_string(s.bits));
}

KvScheme parse_kv_scheme(const std::string& name) {
  if (name == "kv_int8" || name == "int8") return KvScheme{8, false};
  if (name == "kv_int4" || name == "int4") return KvScheme{4, false};
  if (name == "kv_q8_0" || name == "q8_0") return KvScheme{8, true};
  if (name == "kv_q4_0" || name == "q4_0") return KvScheme{4, true};
  fail("unknown KV-cache quant scheme '" + name + "' (expected kv_int8, kv_int4, kv_q8_0 or kv_q4_0)");
}

std::string kv_scheme_name(const KvScheme& s) {
  return s.ggml_blocks ? (s.bits == 8 ? "kv_q8_0" : "kv_q4_0") : "kv_int" + std::to_string(s.bits);
}

}  // namespace gq::quant
