// GGUF: GgufFile::parse on the input bytes, then every value read through its accessors and every
// tensor's data read in full (a tensor the validation let through must lie inside the bytes).
#include "formats/gguf.h"
#include "fuzz/fuzz_util.h"
#include "io/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const gq::GgufFile file = gq::GgufFile::parse(data, size, "fuzz.gguf");
    for (const auto& [key, value] : file.kv()) {
      if (file.find(key) != &file.get(key)) std::abort();  // duplicate keys are refused, so find() is this entry
      try {
        (void)value.as_int();
      } catch (const gq::FormatError&) {  // not an integer scalar: the expected refusal
      }
      if (value.type() == gq::GgufType::STRING) (void)value.as_str();
      for (const std::string& s : value.strings()) gq::fuzz::touch(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    }
    for (const gq::GgufTensorInfo& t : file.tensors()) {
      if (file.find_tensor(t.name) != &t) std::abort();
      gq::fuzz::touch(file.tensor_data(t), t.nbytes);
      (void)t.numel();
    }
  } catch (const gq::FormatError&) {
  }
  return 0;
}
