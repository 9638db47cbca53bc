#include "text/spm_tokenizer.h"

#include <dlfcn.h>

#include <mutex>

#include "io/error.h"
#include "text/spm_shim/spm_shim.h"
#include "io/utf8.h"

#ifndef GQ_SPM_LIBRARY  // set by text/CMakeLists.txt to the built library's path
#define GQ_SPM_LIBRARY "libgq_spm.so"
#endif

// AddressSanitizer refuses RTLD_DEEPBIND (the library would bypass its malloc interceptors). A
// sanitizer build leaves LibTorch out by default (GQ_TORCH), so there is no second protobuf for
// SentencePiece's to clash with, and plain RTLD_LOCAL binding is enough.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GQ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(GQ_ASAN)
constexpr int kSpmDlopenFlags = RTLD_NOW | RTLD_LOCAL;
#else
constexpr int kSpmDlopenFlags = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#endif

namespace gq {
namespace {

// libgq_spm's entry points, resolved once per process.
struct Shim {
  decltype(&gq_spm_load) load;
  decltype(&gq_spm_load_serialized) load_serialized;
  decltype(&gq_spm_free) free;
  decltype(&gq_spm_encode) encode;
  decltype(&gq_spm_decode) decode;
  decltype(&gq_spm_info) info;
  decltype(&gq_spm_piece) piece;
  decltype(&gq_spm_piece_id) piece_id;
};

const Shim& shim() {
  static Shim s;
  static std::string error;
  static std::once_flag once;
  std::call_once(once, [] {
    // DEEPBIND: SentencePiece must bind to its bundled protobuf, not the process's libprotobuf
    // (except under AddressSanitizer, kSpmDlopenFlags above).
    // The build tree's copy first, then the loader's search path (LD_LIBRARY_PATH) for a moved binary.
    void* h = dlopen(GQ_SPM_LIBRARY, kSpmDlopenFlags);
    if (!h) {
      const std::string first = dlerror();
      h = dlopen("libgq_spm.so", kSpmDlopenFlags);
      if (!h) {
        error = "cannot load the SentencePiece library: " + first;
        return;
      }
    }
    auto sym = [&](const char* name) {
      void* p = dlsym(h, name);
      if (!p) error = std::string(GQ_SPM_LIBRARY ": missing ") + name;
      return p;
    };
    s.load = reinterpret_cast<decltype(s.load)>(sym("gq_spm_load"));
    s.load_serialized = reinterpret_cast<decltype(s.load_serialized)>(sym("gq_spm_load_serialized"));
    s.free = reinterpret_cast<decltype(s.free)>(sym("gq_spm_free"));
    s.encode = reinterpret_cast<decltype(s.encode)>(sym("gq_spm_encode"));
    s.decode = reinterpret_cast<decltype(s.decode)>(sym("gq_spm_decode"));
    s.info = reinterpret_cast<decltype(s.info)>(sym("gq_spm_info"));
    s.piece = reinterpret_cast<decltype(s.piece)>(sym("gq_spm_piece"));
    s.piece_id = reinterpret_cast<decltype(s.piece_id)>(sym("gq_spm_piece_id"));
  });
  if (!error.empty()) throw FormatError(error);
  return s;
}

}  // namespace

SpmTokenizer::SpmTokenizer(std::string path, gq_spm* sp) : path_(std::move(path)), sp_(sp) {
  size_ = shim().info(sp_, GQ_SPM_SIZE);
  bos_ = shim().info(sp_, GQ_SPM_BOS);
  eos_ = shim().info(sp_, GQ_SPM_EOS);
  pad_ = shim().info(sp_, GQ_SPM_PAD);
  unk_ = shim().info(sp_, GQ_SPM_UNK);
}

SpmTokenizer::~SpmTokenizer() { shim().free(sp_); }

std::unique_ptr<SpmTokenizer> SpmTokenizer::load(const std::string& path) {
  char err[512];
  gq_spm* sp = shim().load(path.c_str(), err, sizeof err);
  if (!sp) throw FormatError(path + ": not a SentencePiece model: " + err);
  return std::unique_ptr<SpmTokenizer>(new SpmTokenizer(path, sp));
}

std::unique_ptr<SpmTokenizer> SpmTokenizer::from_bytes(const std::string& bytes, const std::string& source) {
  char err[512];
  gq_spm* sp = shim().load_serialized(bytes.data(), bytes.size(), err, sizeof err);
  if (!sp) throw FormatError(source + ": not a SentencePiece model: " + err);
  return std::unique_ptr<SpmTokenizer>(new SpmTokenizer(source, sp));
}

std::vector<TokenId> SpmTokenizer::encode(std::string_view text, bool add_special) const {
  const size_t bad = utf8::find_invalid(text);
  if (bad != std::string_view::npos) throw FormatError("text is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  const size_t head = add_special && bos_ >= 0 ? 1 : 0;
  std::vector<TokenId> out(head + text.size() + 8);  // at most one id per byte, plus a prefix piece
  char err[512];
  for (;;) {
    const long n = shim().encode(sp_, text.data(), text.size(), out.data() + head, out.size() - head, err, sizeof err);
    if (n < 0) throw FormatError(path_ + ": encode failed: " + err);
    if (size_t(n) <= out.size() - head) {
      out.resize(head + size_t(n));
      break;
    }
    out.resize(head + size_t(n));
  }
  if (head) out[0] = bos_;
  return out;
}

std::string SpmTokenizer::decode(const std::vector<TokenId>& ids) const {
  for (const TokenId id : ids)
    if (id < 0 || id >= size_) throw FormatError(path_ + ": no token with id " + std::to_string(id));
  std::string text(ids.size() * 8 + 16, '\0');
  char err[512];
  for (;;) {
    const long n = shim().decode(sp_, ids.data(), ids.size(), text.data(), text.size(), err, sizeof err);
    if (n < 0) throw FormatError(path_ + ": decode failed: " + err);
    const bool fits = size_t(n) <= text.size();
    text.resize(size_t(n));
    if (fits) return text;
  }
}

std::string SpmTokenizer::piece(TokenId id) const {
  if (id < 0 || id >= size_) throw FormatError(path_ + ": no token with id " + std::to_string(id));
  std::string p(64, '\0');
  const long n = shim().piece(sp_, id, p.data(), p.size());
  if (size_t(n) > p.size()) {
    p.resize(size_t(n));
    shim().piece(sp_, id, p.data(), p.size());
  }
  p.resize(size_t(n));
  return p;
}

TokenId SpmTokenizer::piece_id(std::string_view piece) const { return shim().piece_id(sp_, piece.data(), piece.size()); }

std::string SpmTokenizer::describe() const { return path_ + " (SentencePiece, " + std::to_string(size_) + " ids)"; }

}  // namespace gq
