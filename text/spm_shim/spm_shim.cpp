// libgq_spm: libsentencepiece behind a C interface (see spm_shim.h for why).
#include "text/spm_shim/spm_shim.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#define GQ_SPM_EXPORT __attribute__((visibility("default")))

struct gq_spm {
  sentencepiece::SentencePieceProcessor sp;
};

namespace {

void set_error(char* err, size_t err_size, const std::string& msg) {
  if (!err || err_size == 0) return;
  std::strncpy(err, msg.c_str(), err_size - 1);
  err[err_size - 1] = '\0';
}

long copy_out(const std::string& s, char* buf, size_t cap) {
  std::memcpy(buf, s.data(), std::min(cap, s.size()));
  return long(s.size());
}

}  // namespace

extern "C" {

GQ_SPM_EXPORT gq_spm* gq_spm_load(const char* path, char* err, size_t err_size) {
  auto* h = new gq_spm;
  const auto status = h->sp.Load(path);
  if (!status.ok()) {
    set_error(err, err_size, status.ToString());
    delete h;
    return nullptr;
  }
  return h;
}

GQ_SPM_EXPORT gq_spm* gq_spm_load_serialized(const char* bytes, size_t size, char* err, size_t err_size) {
  auto* h = new gq_spm;
  const auto status = h->sp.LoadFromSerializedProto(std::string(bytes, size));
  if (!status.ok()) {
    set_error(err, err_size, status.ToString());
    delete h;
    return nullptr;
  }
  return h;
}

GQ_SPM_EXPORT void gq_spm_free(gq_spm* sp) { delete sp; }

GQ_SPM_EXPORT long gq_spm_encode(gq_spm* sp, const char* text, size_t len, int32_t* ids, size_t cap, char* err,
                                 size_t err_size) {
  std::vector<int> out;
  const auto status = sp->sp.Encode(std::string_view(text, len), &out);
  if (!status.ok()) {
    set_error(err, err_size, status.ToString());
    return -1;
  }
  for (size_t i = 0; i < out.size() && i < cap; ++i) ids[i] = out[i];
  return long(out.size());
}

GQ_SPM_EXPORT long gq_spm_decode(gq_spm* sp, const int32_t* ids, size_t n, char* text, size_t cap, char* err,
                                 size_t err_size) {
  std::string out;
  const auto status = sp->sp.Decode(std::vector<int>(ids, ids + n), &out);
  if (!status.ok()) {
    set_error(err, err_size, status.ToString());
    return -1;
  }
  return copy_out(out, text, cap);
}

GQ_SPM_EXPORT int32_t gq_spm_info(const gq_spm* sp, int what) {
  switch (what) {
    case GQ_SPM_SIZE: return sp->sp.GetPieceSize();
    case GQ_SPM_BOS: return sp->sp.bos_id();
    case GQ_SPM_EOS: return sp->sp.eos_id();
    case GQ_SPM_PAD: return sp->sp.pad_id();
    case GQ_SPM_UNK: return sp->sp.unk_id();
    default: return -1;
  }
}

GQ_SPM_EXPORT long gq_spm_piece(const gq_spm* sp, int32_t id, char* buf, size_t cap) {
  return copy_out(sp->sp.IdToPiece(id), buf, cap);
}

GQ_SPM_EXPORT int32_t gq_spm_piece_id(const gq_spm* sp, const char* piece, size_t len) {
  // PieceToId answers unk for anything unknown; only an exact round trip is a real piece.
  const std::string_view p(piece, len);
  const int id = sp->sp.PieceToId(p);
  return id >= 0 && sp->sp.IdToPiece(id) == p ? id : -1;
}

}
