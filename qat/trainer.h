// The training loop of `gemma-qat train`: plain or QAT fine-tuning (a recipe's fake-quant ops on
// the model), optional distillation from an unquantized teacher, AdamW with warmup + cosine decay,
// gradient accumulation and clipping, validation perplexity, and run folders that resume exactly.
//
// It writes the run folder of run/run_folder.h (docs/run-folder.md): RUN/metrics.jsonl, and
// RUN/checkpoint/, replaced as a whole at every save (io/folder_swap.h).
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "recipes/calibration.h"
#include "text/corpus.h"
#include "recipes/recipe.h"
#include "qat/gemma4_model.h"

namespace gq {

class DataParallelGroup;

struct TrainOptions {
  int64_t steps = 100;           // optimizer steps in total (a resumed run continues up to this)
  int64_t batch_size = 8;        // sequences per micro-batch
  int64_t seq_len = 128;
  int64_t grad_accum = 1;        // micro-batches per optimizer step
  double lr = 1e-3, min_lr_ratio = 0.1;
  int64_t warmup_steps = 10;
  int64_t decay_steps = 0;       // cosine horizon; 0 = steps. Fixed at creation, so resuming to more
                                 // steps follows the same schedule as one longer run would
  double weight_decay = 0.01, beta1 = 0.9, beta2 = 0.95, adam_eps = 1e-8;
  double clip_grad_norm = 1.0;   // <= 0: off
  int64_t fake_quant_start = 0;  // steps of plain training before the fake-quant ops switch on
  std::vector<std::string> freeze;  // regexes (full match) over parameter names
  uint64_t seed = 0;
  int64_t eval_every = 50, eval_batches = 8, save_every = 50, log_every = 10;
  double distill_alpha = 0.0;    // weight of the teacher KL term (0: plain cross-entropy)
  double distill_temperature = 1.0;
  std::string device = "cpu";
  bool activation_checkpointing = false;  // per decoder layer: recompute in backward, same values
};

struct TrainProgress {
  int64_t step = 0, total = 0;
  double loss = 0, lr = 0, tokens_per_s = 0;
  std::optional<double> val_loss;
};

class Trainer {
 public:
  // `recipe` empty: plain fine-tuning. `teacher` may be null (no distillation).
  Trainer(Gemma4Model model, std::optional<ResolvedRecipe> recipe, std::optional<Calibration> calibration,
          Gemma4Model teacher, TokenWindows train, TokenWindows valid, TrainOptions opt, std::string run_dir,
          std::string recipe_json, std::string tokenizer_file, std::string cli_args_json = "{}");

  // Data-parallel training over `group` (qat/distributed.h), before resume() / run(): each rank
  // trains its slice of every micro-batch (batch_size must be a multiple of the world size, so the
  // data order and the global batch are the single-process run's), gradients are averaged over
  // the ranks, and only rank 0 writes metrics and checkpoints.
  void set_data_parallel(std::shared_ptr<DataParallelGroup> group);
  bool is_rank0() const;

  // Restores weights, quantization parameters, optimizer, schedule position, RNG and data position
  // from RUN/checkpoint (options other than `steps` come from the checkpoint).
  void resume();
  // Trains up to opt.steps. Throws FormatError on a non-finite loss, leaving the last checkpoint.
  void run(const std::function<void(const TrainProgress&)>& on_step = {});
  double evaluate();  // mean validation cross-entropy (fake-quant on when active)

  int64_t step() const { return step_; }
  Gemma4Model& model() { return model_; }
  const TrainOptions& options() const { return opt_; }

 private:
  void build_optimizer();
  void set_fake_quant(bool on);
  double lr_at(int64_t step) const;
  at::Tensor batch(int64_t micro_index, const TokenWindows& w, bool shuffled) const;
  void apply_freeze();
  void save_checkpoint();
  void average_gradients(const std::vector<at::Tensor>& params);
  double average_over_ranks(double value) const;

  Gemma4Model model_, teacher_;
  std::optional<ResolvedRecipe> recipe_;
  std::optional<Calibration> calibration_;
  TokenWindows train_, valid_;
  TrainOptions opt_;
  std::string run_dir_, recipe_json_, tokenizer_file_, cli_args_json_;
  std::shared_ptr<DataParallelGroup> group_;  // null: one process
  std::shared_ptr<void> optimizer_;  // torch::optim::AdamW, kept out of this header
  std::vector<double> group_lr_multiplier_;  // per optimizer group, times the schedule's lr
  int64_t step_ = 0;
  int64_t samples_seen_ = 0;  // data position: training windows consumed so far
  bool fake_quant_on_ = false;
  mutable std::vector<int64_t> order_;  // the training order of epoch order_epoch_
  mutable int64_t order_epoch_ = -1;
};

}  // namespace gq
