#include "qat/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/serialize.h>

#include "formats/safetensors.h"
#include "io/error.h"
#include "io/folder_swap.h"
#include "io/text_file.h"
#include "qat/checkpoint_loader.h"
#include "qat/checkpoint_writer.h"
#include "qat/distributed.h"
#include "qat/evaluate.h"
#include "qat/learned_scale.h"
#include "qat/quantize.h"
#include "qat/run_quantization.h"
#include "run/metrics.h"
#include "run/run_folder.h"
#include "run/train_state.h"

namespace gq {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

torch::optim::AdamW& adamw(const std::shared_ptr<void>& p) { return *static_cast<torch::optim::AdamW*>(p.get()); }

json options_json(const TrainOptions& o) {
  return {{"steps", o.steps}, {"batch_size", o.batch_size}, {"seq_len", o.seq_len}, {"grad_accum", o.grad_accum},
          {"lr", o.lr}, {"min_lr_ratio", o.min_lr_ratio}, {"warmup_steps", o.warmup_steps},
          {"weight_decay", o.weight_decay}, {"beta1", o.beta1}, {"beta2", o.beta2}, {"adam_eps", o.adam_eps},
          {"clip_grad_norm", o.clip_grad_norm}, {"fake_quant_start", o.fake_quant_start}, {"freeze", o.freeze},
          {"seed", o.seed}, {"eval_every", o.eval_every}, {"eval_batches", o.eval_batches},
          {"save_every", o.save_every}, {"log_every", o.log_every}, {"distill_alpha", o.distill_alpha},
          {"distill_temperature", o.distill_temperature}, {"decay_steps", o.decay_steps},
          {"activation_checkpointing", o.activation_checkpointing}};
}

void options_from_json(const json& j, TrainOptions& o) {
  o.batch_size = j.at("batch_size");
  o.seq_len = j.at("seq_len");
  o.grad_accum = j.at("grad_accum");
  o.lr = j.at("lr");
  o.min_lr_ratio = j.at("min_lr_ratio");
  o.warmup_steps = j.at("warmup_steps");
  o.weight_decay = j.at("weight_decay");
  o.beta1 = j.at("beta1");
  o.beta2 = j.at("beta2");
  o.adam_eps = j.at("adam_eps");
  o.clip_grad_norm = j.at("clip_grad_norm");
  o.fake_quant_start = j.at("fake_quant_start");
  o.freeze = j.at("freeze").get<std::vector<std::string>>();
  o.seed = j.at("seed");
  o.eval_every = j.at("eval_every");
  o.eval_batches = j.at("eval_batches");
  o.save_every = j.at("save_every");
  o.log_every = j.at("log_every");
  o.distill_alpha = j.at("distill_alpha");
  o.distill_temperature = j.at("distill_temperature");
  o.decay_steps = j.at("decay_steps");
  o.activation_checkpointing = j.value("activation_checkpointing", false);  // absent in runs saved before it
}

}  // namespace

Trainer::Trainer(Gemma4Model model, std::optional<ResolvedRecipe> recipe, std::optional<Calibration> calibration,
                 Gemma4Model teacher, TokenWindows train, TokenWindows valid, TrainOptions opt, std::string run_dir,
                 std::string recipe_json, std::string tokenizer_file, std::string cli_args_json)
    : model_(std::move(model)),
      teacher_(std::move(teacher)),
      recipe_(std::move(recipe)),
      calibration_(std::move(calibration)),
      train_(std::move(train)),
      valid_(std::move(valid)),
      opt_(std::move(opt)),
      run_dir_(std::move(run_dir)),
      recipe_json_(std::move(recipe_json)),
      tokenizer_file_(std::move(tokenizer_file)),
      cli_args_json_(std::move(cli_args_json)) {
  if (opt_.decay_steps <= 0) opt_.decay_steps = opt_.steps;
  if (train_.count() < opt_.batch_size)
    throw FormatError("training data holds " + std::to_string(train_.count()) + " sequences of " +
                      std::to_string(opt_.seq_len) + " tokens, fewer than one batch of " + std::to_string(opt_.batch_size));
  if (opt_.distill_alpha > 0 && !teacher_) throw FormatError("distillation needs a teacher model");
  const at::Device dev(opt_.device);
  model_->to(dev);
  if (teacher_) {
    teacher_->to(dev);
    teacher_->eval();
  }
  // Fake-quant ops go on once, before the optimizer exists, so learned scales are optimizer
  // parameters from the start; they start switched off and run() switches them on at
  // fake_quant_start. The quantizers' own parameters are created on the CPU: move them too.
  if (recipe_) {
    quantize_model(model_, *recipe_, calibration_ ? &*calibration_ : nullptr);
    set_quantization_enabled(model_, false);
    model_->to(dev);
  }
  apply_freeze();
  build_optimizer();
}

void Trainer::set_data_parallel(std::shared_ptr<DataParallelGroup> group) {
  group_ = std::move(group);
  if (!group_) return;
  const int n = group_->world_size();
  if (opt_.batch_size % n != 0)
    throw FormatError("--batch-size " + std::to_string(opt_.batch_size) + " is not a multiple of the " +
                      std::to_string(n) + " ranks (each rank trains batch-size / ranks sequences of every micro-batch)");
  // Every rank built the same model from the same seed; rank 0's copy is the one all train.
  std::vector<at::Tensor> state;
  for (const auto& p : model_->named_parameters(true)) state.push_back(p.value());
  for (const auto& b : model_->named_buffers(true)) state.push_back(b.value());
  group_->broadcast(state, 0);
}

bool Trainer::is_rank0() const { return !group_ || group_->rank() == 0; }

double Trainer::average_over_ranks(double value) const {
  if (!group_) return value;
  at::Tensor t = at::full({1}, value, at::kDouble);
  group_->allreduce_sum({t});
  return t.item<double>() / double(group_->world_size());
}

// The mean over ranks of each rank's mean-loss gradient: the gradient of the mean over the global
// batch, since every rank holds the same number of target tokens. A gradient some rank lacks (a
// parameter its slice never reached) counts as zero there; one no rank has stays undefined, as in
// a single process.
void Trainer::average_gradients(const std::vector<at::Tensor>& params) {
  if (!group_) return;
  at::Tensor defined = at::zeros({int64_t(params.size())}, at::kFloat);
  for (size_t i = 0; i < params.size(); ++i) defined[int64_t(i)] = params[i].grad().defined() ? 1.0f : 0.0f;
  group_->allreduce_sum({defined});
  std::vector<at::Tensor> grads;
  for (size_t i = 0; i < params.size(); ++i) {
    if (defined[int64_t(i)].item<float>() == 0) continue;
    at::Tensor p = params[i];
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
    grads.push_back(p.grad());
  }
  group_->allreduce_sum(grads);
  const double inv = 1.0 / double(group_->world_size());
  at::NoGradGuard ng;
  for (at::Tensor& g : grads) g.mul_(inv);
}

void Trainer::apply_freeze() {
  for (const auto& p : model_->named_parameters(true))
    for (const std::string& pattern : opt_.freeze)
      if (std::regex_match(p.key(), std::regex(pattern))) p.value().set_requires_grad(false);
}

void Trainer::build_optimizer() {
  // Three groups: matrices (weight decay), norms / scalars / activation scales (no decay), and the
  // learned weight-scale log ratios (no decay, lr * kLearnedScaleLrMultiplier: learned_scale.h says
  // why). The order is part of the saved optimizer state: keep it.
  std::set<const void*> seen;  // a shared quantizer (q/k/v input scale) appears under several names
  std::vector<at::Tensor> decay, no_decay, scales;
  for (const at::Tensor& p : learned_scale_parameters(model_))
    if (p.requires_grad() && seen.insert(p.unsafeGetTensorImpl()).second) scales.push_back(p);
  for (const auto& p : model_->named_parameters(true)) {
    if (!p.value().requires_grad() || !seen.insert(p.value().unsafeGetTensorImpl()).second) continue;
    const bool is_quant = p.key().find("_fq.") != std::string::npos;
    (p.value().dim() >= 2 && !is_quant ? decay : no_decay).push_back(p.value());
  }
  auto make_opts = [&](double wd) {
    return torch::optim::AdamWOptions(opt_.lr).betas({opt_.beta1, opt_.beta2}).eps(opt_.adam_eps).weight_decay(wd);
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(make_opts(opt_.weight_decay)));
  group_lr_multiplier_ = {1.0};
  if (!no_decay.empty()) {
    groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(make_opts(0.0)));
    group_lr_multiplier_.push_back(1.0);
  }
  if (!scales.empty()) {
    groups.emplace_back(scales, std::make_unique<torch::optim::AdamWOptions>(
                                    make_opts(0.0).lr(opt_.lr * kLearnedScaleLrMultiplier)));
    group_lr_multiplier_.push_back(kLearnedScaleLrMultiplier);
  }
  optimizer_ = std::make_shared<torch::optim::AdamW>(groups, make_opts(opt_.weight_decay));
}

double Trainer::lr_at(int64_t step) const {
  if (step < opt_.warmup_steps) return opt_.lr * double(step + 1) / double(opt_.warmup_steps);
  const double span = double(std::max<int64_t>(1, opt_.decay_steps - opt_.warmup_steps));
  const double progress = std::min(1.0, double(step - opt_.warmup_steps) / span);
  return opt_.lr * (opt_.min_lr_ratio + (1.0 - opt_.min_lr_ratio) * 0.5 * (1.0 + std::cos(M_PI * progress)));
}

void Trainer::set_fake_quant(bool on) {
  if (!recipe_ || on == fake_quant_on_) return;
  set_quantization_enabled(model_, on);
  fake_quant_on_ = on;
  if (!on || !recipe_->has_static_activations() || calibration_) return;
  // Static activation scales and no calibration given: observe a few training batches first.
  begin_calibration(model_);
  {
    at::NoGradGuard ng;
    const int64_t n = std::min<int64_t>(8, train_.count() / opt_.batch_size);
    for (int64_t i = 0; i < n; ++i) model_->forward(batch(i, train_, false).narrow(1, 0, opt_.seq_len));
  }
  calibration_ = finish_calibration(model_, recipe_->name, recipe_->observer);
}

// Micro-batch `m` of a window set: shuffled (training), samples m*B.. of the stream of epochs,
// each epoch in its own order (a batch may straddle two); otherwise (validation, calibration),
// windows in file order.
at::Tensor Trainer::batch(int64_t m, const TokenWindows& w, bool shuffled) const {
  const int64_t B = opt_.batch_size, T = opt_.seq_len, n = w.count();
  at::Tensor ids = at::empty({B, T + 1}, at::kLong);
  int64_t* out = ids.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t s = m * B + b;
    int64_t idx = s % n;
    if (shuffled) {
      if (s / n != order_epoch_) order_ = shuffled_order(n, opt_.seed, uint64_t(s / n)), order_epoch_ = s / n;
      idx = order_[size_t(s % n)];
    }
    const int32_t* win = w.window(idx);
    for (int64_t t = 0; t <= T; ++t) out[b * (T + 1) + t] = win[t];
  }
  return ids.to(at::Device(opt_.device));
}

double Trainer::evaluate() {
  return evaluate_windows(model_, valid_, opt_.batch_size, opt_.eval_batches).mean_loss;
}

void Trainer::run(const std::function<void(const TrainProgress&)>& on_step) {
  std::ofstream metrics;
  if (is_rank0()) {
    fs::create_directories(run_dir_);
    metrics.open(run_folder::metrics_path(run_dir_), std::ios::app);
  }
  const int64_t ranks = group_ ? group_->world_size() : 1, rank = group_ ? group_->rank() : 0;
  const int64_t slice = opt_.batch_size / ranks;
  auto& optim = adamw(optimizer_);
  const double T = opt_.distill_temperature;
  while (step_ < opt_.steps) {
    set_fake_quant(step_ >= opt_.fake_quant_start);
    model_->train();
    const double lr = lr_at(step_);
    for (size_t g = 0; g < optim.param_groups().size(); ++g)
      static_cast<torch::optim::AdamWOptions&>(optim.param_groups()[g].options()).lr(lr * group_lr_multiplier_.at(g));
    const auto t0 = std::chrono::steady_clock::now();
    optim.zero_grad();
    double loss_sum = 0;
    for (int64_t a = 0; a < opt_.grad_accum; ++a) {
      const at::Tensor ids = batch(samples_seen_ / opt_.batch_size, train_, true).narrow(0, rank * slice, slice);
      samples_seen_ += opt_.batch_size;
      const at::Tensor inputs = ids.narrow(1, 0, opt_.seq_len), targets = ids.narrow(1, 1, opt_.seq_len).reshape(-1);
      ForwardOptions fwd;
      fwd.checkpoint_layers = opt_.activation_checkpointing;
      const at::Tensor logits = model_->forward(inputs, nullptr, fwd).logits.reshape({-1, model_->config().vocab_size});
      at::Tensor loss = at::cross_entropy_loss(logits, targets);
      if (teacher_ && opt_.distill_alpha > 0) {
        at::Tensor tlog;
        {
          at::NoGradGuard ng;
          tlog = at::log_softmax(teacher_->forward(inputs).logits.reshape({-1, logits.size(-1)}) / T, -1);
        }
        const at::Tensor slog = at::log_softmax(logits / T, -1);
        const at::Tensor kl = (tlog.exp() * (tlog - slog)).sum(-1).mean() * (T * T);
        loss = opt_.distill_alpha * kl + (1.0 - opt_.distill_alpha) * loss;
      }
      loss_sum += loss.item<double>();
      (loss / double(opt_.grad_accum)).backward();
    }
    const double loss = average_over_ranks(loss_sum / double(opt_.grad_accum));
    std::vector<at::Tensor> params;
    for (const auto& g : optim.param_groups())
      for (const auto& p : g.params()) params.push_back(p);
    average_gradients(params);
    if (!std::isfinite(loss))
      throw FormatError("step " + std::to_string(step_ + 1) + ": the loss is " + std::to_string(loss) +
                        "; stopping (the last checkpoint in " + run_dir_ + " is kept)");
    if (opt_.clip_grad_norm > 0) torch::nn::utils::clip_grad_norm_(params, opt_.clip_grad_norm);
    optim.step();
    ++step_;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    TrainProgress pr{step_, opt_.steps, loss, lr, double(opt_.grad_accum * opt_.batch_size * opt_.seq_len) / secs, {}};
    const bool eval_now = opt_.eval_every > 0 && (step_ % opt_.eval_every == 0 || step_ == opt_.steps);
    if (eval_now && is_rank0()) pr.val_loss = evaluate();  // no collectives: the other ranks go on
    if (is_rank0() && (step_ % opt_.log_every == 0 || eval_now || step_ == 1)) {
      json j = {{"step", step_}, {"loss", loss}, {"lr", lr}, {"tokens_per_s", pr.tokens_per_s},
                {"fake_quant", fake_quant_on_}};
      if (pr.val_loss && std::isfinite(*pr.val_loss)) j["val_loss"] = *pr.val_loss, j["val_ppl"] = std::exp(*pr.val_loss);
      metrics << j.dump() << "\n" << std::flush;
    }
    if (on_step) on_step(pr);
    if (is_rank0() && ((opt_.save_every > 0 && step_ % opt_.save_every == 0) || step_ == opt_.steps)) save_checkpoint();
  }
}

void Trainer::save_checkpoint() {
  // Written beside RUN/checkpoint and swapped in: a crash at any point leaves one complete checkpoint.
  FolderSwap swap(run_folder::checkpoint_of(run_dir_));
  const std::string& dir = swap.staging();
  auto file = [&](const std::string& name) { return run_folder::file_in(dir, name); };
  // Weights go out on the CPU in float32: what `logits`, export and resume read.
  const at::Device dev(opt_.device);
  model_->to(at::kCPU);
  save_hf_checkpoint(model_, dir);
  std::vector<TensorToWrite> qs;
  const auto state = quantization_state(model_);
  std::vector<at::Tensor> keep;
  for (const auto& [name, t] : state) {
    keep.push_back(t.detach().to(at::kFloat).contiguous());
    qs.push_back({name, DType::F32, keep.back().sizes().vec(), keep.back().data_ptr(), size_t(keep.back().numel()) * 4});
  }
  write_safetensors(file(run_folder::kQuantParams), qs, {{"step", std::to_string(step_)}});
  if (recipe_) {
    current_calibration(model_, recipe_->name, recipe_->observer).save(file(run_folder::kCalibration));
    write_text_file(file(run_folder::kRecipe), recipe_json_);
  }
  model_->to(dev);
  const std::string tokenizer = tokenizer_file_.empty() ? "" : fs::path(tokenizer_file_).filename().string();
  if (!tokenizer.empty()) fs::copy_file(tokenizer_file_, fs::path(dir) / tokenizer);
  torch::save(adamw(optimizer_), file(run_folder::kOptimizer));
  const at::Tensor rng = at::detail::getDefaultCPUGenerator().get_state();
  torch::save(rng, file(run_folder::kRng));
  run_folder::TrainState st;
  st.step = step_;
  st.samples_seen = samples_seen_;
  st.fake_quant_on = fake_quant_on_;
  st.options = options_json(opt_);
  st.tokenizer = tokenizer;
  st.args = json::parse(cli_args_json_);
  run_folder::write_train_state(dir, st);
  swap.commit();
}

void Trainer::resume() {
  if (is_rank0()) run_folder::recover_interrupted_save(run_dir_);
  if (group_) group_->barrier();  // the others read the checkpoint rank 0 may just have recovered
  const std::string dir = run_folder::checkpoint_of(run_dir_);
  const run_folder::TrainState st = run_folder::read_train_state(dir);
  const int64_t total = opt_.steps;
  try {
    options_from_json(st.options, opt_);
  } catch (const json::exception& e) {
    throw FormatError(run_folder::file_in(dir, run_folder::kTrainState) + ": options: " + e.what());
  }
  opt_.steps = total;
  step_ = st.step;
  samples_seen_ = st.samples_seen;
  if (step_ >= opt_.steps)
    throw FormatError(run_dir_ + ": the run is already at step " + std::to_string(step_) + "; pass --steps above it");
  // Weights (the checkpoint's own, whatever the caller loaded) and quantization parameters.
  {
    Gemma4Model loaded = load_model(dir);
    at::NoGradGuard ng;
    auto src = loaded->named_parameters(true);
    for (auto& p : model_->named_parameters(true))
      if (src.contains(p.key())) p.value().copy_(src[p.key()]);
    auto srcb = loaded->named_buffers(true);
    for (auto& b : model_->named_buffers(true))
      if (srcb.contains(b.key())) b.value().copy_(srcb[b.key()]);
  }
  if (recipe_) {
    auto rq = apply_run_quantization(model_, dir);
    if (!rq) throw FormatError(dir + ": a QAT run's checkpoint lacks recipe.json");
    calibration_ = rq->calibration;
    model_->to(at::Device(opt_.device));
    fake_quant_on_ = true;  // the rebuilt quantizers are on; set_fake_quant restores the saved state
    set_fake_quant(st.fake_quant_on);
  }
  // The run's own freeze patterns, then an optimizer over exactly the parameters it trained.
  apply_freeze();
  build_optimizer();
  torch::load(adamw(optimizer_), run_folder::file_in(dir, run_folder::kOptimizer));
  at::Tensor rng;
  torch::load(rng, run_folder::file_in(dir, run_folder::kRng));
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  gen.set_state(rng);
  if (is_rank0()) run_folder::trim_metrics(run_dir_, step_);  // a run that died past the checkpoint logged more
}

}  // namespace gq
