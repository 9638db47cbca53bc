// Held-out cross-entropy of a model (with whatever fake-quant ops it carries) on fixed windows.
#pragma once
#include <cstdint>

#include "text/corpus.h"
#include "qat/gemma4_model.h"

namespace gq {

struct EvalResult {
  double mean_loss = 0;   // nats per token
  int64_t tokens = 0;
  double perplexity() const;
};

// Windows 0.. in order, `batch_size` at a time, at most `max_batches` batches (<= 0: all).
EvalResult evaluate_windows(Gemma4Model& model, const TokenWindows& windows, int64_t batch_size, int64_t max_batches);

}  // namespace gq
