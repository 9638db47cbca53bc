// Native format (.gqn): NativeFile::open on the input bytes, then every blob read in full (a blob
// the validation let through must lie inside the mapping). The checksums would stop nearly every
// mutation at the first check, so the input is opened twice: as it is (checksums verified), and
// with the preamble's and header's CRCs recomputed and the blob CRCs not verified, which lets the
// fuzzer reach the header parser and every structural check behind it.
#include <cstring>
#include <vector>

#include "formats/native_format.h"
#include "fuzz/fuzz_util.h"
#include "io/crc32c.h"
#include "io/error.h"

namespace {

void read_all(const std::string& path, const gq::native::ReadOptions& opt) {
  try {
    const gq::native::NativeFile f = gq::native::NativeFile::open(path, opt);
    for (const gq::native::TensorEntry& t : f.tensors()) {
      if (f.find(t.desc.name) != &t) std::abort();
      gq::fuzz::touch(t.data.data, t.data.size);
      gq::fuzz::touch(t.scales.data, t.scales.size);
      gq::fuzz::touch(t.zero_points.data, t.zero_points.size);
      (void)gq::native::blob_sizes(t.desc, t.desc.name);  // what open() accepted is consistent
    }
    gq::fuzz::touch(f.per_layer_section().data, f.per_layer_section().size);
  } catch (const gq::FormatError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  read_all(gq::fuzz::write_input("fuzz.gqn", data, size), {});
  if (size < gq::native::kPreambleBytes) return 0;
  std::vector<uint8_t> fixed(data, data + size);
  uint64_t header = 0;
  std::memcpy(&header, fixed.data() + 16, 8);
  if (header <= size - gq::native::kPreambleBytes) {
    const uint32_t hc = gq::crc32c(fixed.data() + gq::native::kPreambleBytes, size_t(header));
    std::memcpy(fixed.data() + 24, &hc, 4);
  }
  const uint32_t pc = gq::crc32c(fixed.data(), 28);
  std::memcpy(fixed.data() + 28, &pc, 4);
  read_all(gq::fuzz::write_input("fixed.gqn", fixed.data(), fixed.size()), gq::native::ReadOptions{false});
  return 0;
}
