// ModelWeights from safetensors: every spec tensor as float32, and a missing or misshapen tensor is
// one FormatError naming the file and the tensor.
#include <gtest/gtest.h>

#include <filesystem>

#include "../common/test_util.h"
#include "engine/weights.h"
#include "formats/safetensors.h"
#include "model/gemma4_tensors.h"

namespace gq::engine {
namespace {

// A copy of a fixture folder whose model.safetensors leaves out `drop` and gives `halve` half its rows.
std::string faulty_copy(const test::TempDir& dir, const std::string& fixture, const std::string& drop,
                        const std::string& halve) {
  const std::string src = test::fixture(fixture);
  std::filesystem::copy_file(src + "/config.json", dir.file("config.json"));
  const auto f = SafetensorsFile::open(src + "/model.safetensors");
  std::vector<TensorToWrite> out;
  for (const std::string& name : f->names()) {
    if (name == drop) continue;
    const TensorView& t = f->tensor(name);
    TensorToWrite w{name, t.dtype, t.shape, t.data, t.nbytes};
    if (name == halve) {
      w.shape[0] /= 2;
      w.nbytes /= 2;
    }
    out.push_back(w);
  }
  write_safetensors(dir.file("model.safetensors"), out);
  return dir.path().string();
}

TEST(Weights, LoadsEveryTensorAsFloat32) {
  const ModelWeights w = ModelWeights::load_safetensors(test::fixture("dense_ple"));
  const Gemma4Config& c = w.config();
  size_t used = 0;
  for (const TensorSpec& s : gemma4_tensor_specs(c)) {
    if (s.unused) {
      EXPECT_FALSE(w.has(s.name)) << s.name;  // never read: not kept
      continue;
    }
    ++used;
    ASSERT_TRUE(w.has(s.name)) << s.name;
    EXPECT_EQ(w.get(s.name).shape, s.shape) << s.name;
    EXPECT_EQ(int64_t(w.get(s.name).data.size()), s.numel()) << s.name;
  }
  EXPECT_EQ(w.size(), used);
  EXPECT_EQ(&w.head(), &w.get("embed_tokens.weight"));  // tied
}

TEST(Weights, MissingTensorNamesFileAndTensor) {
  test::TempDir dir;
  const std::string path = faulty_copy(dir, "dense_keqv", "model.layers.1.mlp.up_proj.weight", "");
  const std::string msg = test::error_of([&] { ModelWeights::load_safetensors(path); });
  EXPECT_CONTAINS(msg, dir.path().string());
  EXPECT_CONTAINS(msg, "model.layers.1.mlp.up_proj.weight");
}

TEST(Weights, MisshapenTensorNamesFileAndTensor) {
  test::TempDir dir;
  const std::string path = faulty_copy(dir, "dense_keqv", "", "model.layers.2.self_attn.q_proj.weight");
  const std::string msg = test::error_of([&] { ModelWeights::load_safetensors(path); });
  EXPECT_CONTAINS(msg, dir.path().string());
  EXPECT_CONTAINS(msg, "model.layers.2.self_attn.q_proj.weight");
}

TEST(Weights, UnknownTensorIsRefusedByName) {
  const ModelWeights w = ModelWeights::load_safetensors(test::fixture("dense_keqv"));
  const std::string msg = test::error_of([&] { w.get("layers.0.nope"); });
  EXPECT_CONTAINS(msg, "layers.0.nope");
}

}  // namespace
}  // namespace gq::engine
