// C interface of libgq_spm, the shared library that wraps libsentencepiece.
//
// Why a separate library: Debian's libsentencepiece bundles its own copy of protobuf and exports its
// symbols, LibTorch loads the system libprotobuf, and when both sit in one process the two bind to
// each other's code and crash in static initializers. spm_tokenizer.cpp therefore loads this
// library with dlopen(RTLD_LOCAL | RTLD_DEEPBIND): SentencePiece binds to its own protobuf, and
// nothing of it is visible to the rest of the process. Only C types cross the boundary.
#pragma once
#include <stddef.h>
#include <stdint.h>

extern "C" {

typedef struct gq_spm gq_spm;

// NULL on failure, with the reason in err.
gq_spm* gq_spm_load(const char* path, char* err, size_t err_size);
// The same from the bytes of a .model file (a native file carries them).
gq_spm* gq_spm_load_serialized(const char* bytes, size_t size, char* err, size_t err_size);
void gq_spm_free(gq_spm* sp);
// Writes up to `cap` ids; returns how many there are (call again with more room if that is > cap),
// or -1 with the reason in err.
long gq_spm_encode(gq_spm* sp, const char* text, size_t len, int32_t* ids, size_t cap, char* err, size_t err_size);
// Writes up to `cap` bytes of text; returns its full length, or -1 with the reason in err.
long gq_spm_decode(gq_spm* sp, const int32_t* ids, size_t n, char* text, size_t cap, char* err, size_t err_size);
enum { GQ_SPM_SIZE = 0, GQ_SPM_BOS = 1, GQ_SPM_EOS = 2, GQ_SPM_PAD = 3, GQ_SPM_UNK = 4 };
int32_t gq_spm_info(const gq_spm* sp, int what);
// The piece of a valid id; returns its full length (bytes written: up to cap).
long gq_spm_piece(const gq_spm* sp, int32_t id, char* buf, size_t cap);
// The id whose piece is exactly `piece`, or -1.
int32_t gq_spm_piece_id(const gq_spm* sp, const char* piece, size_t len);

}
