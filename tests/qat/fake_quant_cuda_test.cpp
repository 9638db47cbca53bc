// Fake quantization on CUDA equals the CPU code for code: RTN weights (values and STE masks) for
// every weight scheme family, and the model's logits under q4_0. Skipped without a CUDA device;
// bench/gpu_check.sh runs these on the GPU machine and counts a skip as a failure.
#include <gtest/gtest.h>

#include <torch/cuda.h>

#include "fixture_util.h"
#include "model/quant_targets.h"
#include "qat/checkpoint_loader.h"
#include "qat/fake_quant_ops.h"
#include "qat/quantize.h"
#include "quant/scheme.h"

namespace gq {
namespace {

TEST(FakeQuantCuda, RtnWeightsEqualTheCpuForEveryScheme) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  at::manual_seed(3);
  const at::Tensor w = at::randn({64, 256}, at::kFloat) * 0.05;
  for (const char* name : {"q4_0", "q8_0", "q2_0", "int8_channel", "int4_channel", "int2_channel", "int4_g32", "int4_g128@bf16", "int4_g32_asym", "int8_g64"}) {
    SCOPED_TRACE(name);
    const quant::WeightScheme s = quant::parse_weight_scheme(name);
    at::Tensor mask_cpu, mask_cuda;
    const at::Tensor cpu = fake_quant_weight_rtn(s, w, &mask_cpu);
    const at::Tensor cuda = fake_quant_weight_rtn(s, w.to(at::kCUDA), &mask_cuda).cpu();
    EXPECT_EQ(test::max_abs_diff(cpu, cuda), 0.0);
    EXPECT_TRUE(at::equal(mask_cpu, mask_cuda.cpu()));
  }
}

TEST(FakeQuantCuda, Q4_0ModelLogitsMatchTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  Gemma4Model cpu = load_model(test::fixture_dir("dense_ple")), cuda = load_model(test::fixture_dir("dense_ple"));
  const ResolvedRecipe r = resolve_recipe(Recipe::load("q4_0"), gemma4_quant_targets(cpu->config()));
  quantize_model(cpu, r);
  quantize_model(cuda, r);
  cuda->to(at::kCUDA);
  const at::Tensor ids = at::randint(cpu->config().vocab_size, {2, 24}, at::kLong);
  at::NoGradGuard ng;
  const at::Tensor a = cpu->forward(ids).logits, b = cuda->forward(ids.to(at::kCUDA)).logits.cpu();
  EXPECT_LT(test::max_abs_diff(a, b), 1e-4);  // matmul order differs; the quantized weights do not
}

}  // namespace
}  // namespace gq
