// Training memory of a Gemma 4 model under a recipe, from its config alone: what `gemma-qat train`
// holds per device (weights, gradients, AdamW state, the fake-quant extras, saved activations)
// with and without per-layer activation checkpointing, and the ZeRO-1/2/3 splits over a number of
// data-parallel devices. `plan --train` prints it; docs/distributed.md reads its numbers.
//
// Activations follow the trainer's model op by op (qat/gemma4_model.cpp, eager attention: the
// [B, heads, T, T] probabilities of every layer are kept for backward): the tensors autograd saves,
// the logits the loss keeps, and the largest transient (the loss backward over [B*T, vocab], or one
// layer's score matrices). tests/qat/train_memory_test.cpp checks the total against the bytes the
// LibTorch CPU allocator really holds during two steps on tiny-e2b.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/dtype.h"
#include "model/gemma4_config.h"
#include "recipes/recipe.h"

namespace gq {

struct TrainMemoryOptions {
  int64_t seq_len = 4096;
  int64_t micro_batch = 1;          // sequences per device per forward
  DType weight_dtype = DType::F32;  // trainable weights; bf16 adds float32 master weights
  DType activation_dtype = DType::F32;  // the trainer computes in its weights' dtype
};

struct TrainMemory {
  int64_t params = 0;          // parameters of the model (tied head counted once)
  int64_t quantized_params = 0;  // of the checkpoint's tensors (a tied head reads the table again)
  int64_t learned_scales = 0;  // learned weight-scale parameters (learnable_scales recipes)
  // Persistent, per replica (divided by ZeRO as below).
  int64_t weights = 0, grads = 0, optimizer = 0, master_weights = 0;
  int64_t learned_scale_state = 0;  // the scales' values, gradients, AdamW moments and initial values
  // Per device, per micro-batch.
  int64_t fake_quant_saved = 0;       // fake-quant weight copies + STE masks autograd keeps for backward
  int64_t fake_quant_saved_ckpt = 0;  // with per-layer checkpointing, kept all through backward: outside the layers, not the head's
  int64_t activations = 0;            // saved for backward, no checkpointing
  int64_t activations_ckpt = 0;       // with checkpointing, kept all through backward: layer inputs, donor K/V, outside the layers
  int64_t logits = 0;                 // part of both: the head's saved [B*T, vocab] tensors
  int64_t transient = 0;              // the largest short-lived peak on top of the saved tensors
  // With checkpointing, on top of the *_ckpt parts: the larger of the head's backward (logits, the
  // loss backward's gradients, the head's fake-quant copy) and one recomputed layer (its saved
  // tensors, fake-quant copies and score matrices); the two never overlap.
  int64_t backward_peak_ckpt = 0;
  int64_t gathered_layer = 0;         // ZeRO-3: one layer's full weights and gradients, gathered

  // Bytes per device with `devices` data-parallel ranks under ZeRO stage 0..3 (0: every rank holds
  // everything; 1: optimizer state split; 2: + gradients; 3: + weights).
  int64_t per_device(int devices, int zero_stage, bool checkpointing) const;
};

TrainMemory train_memory(const Gemma4Config& cfg, const std::optional<ResolvedRecipe>& recipe,
                         const TrainMemoryOptions& opt);

}  // namespace gq
