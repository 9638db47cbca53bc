// safetensors single file: SafetensorsFile::open on the input bytes, then every tensor view read in
// full and converted to float (a view the validation let through must lie inside the mapping).
#include <algorithm>
#include <vector>

#include "formats/safetensors.h"
#include "fuzz/fuzz_util.h"
#include "io/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = gq::fuzz::write_input("fuzz.safetensors", data, size);
  try {
    const auto file = gq::SafetensorsFile::open(path);
    std::vector<float> f32;
    for (const std::string& name : file->names()) {
      const gq::TensorView& t = file->tensor(name);
      gq::fuzz::touch(t.data, t.nbytes);
      // Bounded by what the file holds; integer dtypes are refused with a FormatError, per tensor.
      if (t.numel() < 0 || size_t(t.numel()) > t.nbytes) continue;
      f32.resize(size_t(t.numel()));
      try {
        t.to_f32(f32.data());
      } catch (const gq::FormatError&) {
      }
    }
    for (const auto& kv : file->metadata()) gq::fuzz::touch(reinterpret_cast<const uint8_t*>(kv.second.data()), kv.second.size());
  } catch (const gq::FormatError&) {
  }
  return 0;
}
