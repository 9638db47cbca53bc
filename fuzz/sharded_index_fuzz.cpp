// Sharded checkpoint: the input is model.safetensors.index.json in a folder that also holds two
// small valid shards (written once), so the index's weight_map is checked against real files.
#include <cstring>
#include <filesystem>
#include <vector>

#include "formats/safetensors.h"
#include "fuzz/fuzz_util.h"
#include "io/error.h"

namespace {

const std::filesystem::path& shard_dir() {
  static const std::filesystem::path dir = [] {
    const auto d = gq::fuzz::scratch_dir() / "sharded";
    std::filesystem::create_directories(d);
    const float a[4] = {1, 2, 3, 4};
    const uint16_t b[2] = {0x3f80, 0x4000};  // bf16 1, 2
    gq::write_safetensors((d / "model-00001-of-00002.safetensors").string(),
                          {{"model.embed_tokens.weight", gq::DType::F32, {2, 2}, a, sizeof a}});
    gq::write_safetensors((d / "model-00002-of-00002.safetensors").string(),
                          {{"model.norm.weight", gq::DType::BF16, {2}, b, sizeof b}});
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path dir = shard_dir();
  const std::string index = (dir / "model.safetensors.index.json").string();
  FILE* f = std::fopen(index.c_str(), "wb");
  if (!f) std::abort();
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    const gq::Checkpoint ck = gq::Checkpoint::open(dir.string());
    for (const std::string& name : ck.names()) {
      const gq::TensorView& t = ck.tensor(name);
      gq::fuzz::touch(t.data, t.nbytes);
    }
    (void)ck.total_bytes();
  } catch (const gq::FormatError&) {
  }
  return 0;
}
