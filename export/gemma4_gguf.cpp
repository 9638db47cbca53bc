#include "export/gemma4_gguf.h"

#include <cctype>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>

#include "export/export_warning.h"
#include "export/gemma4_gguf_meta.h"
#include "export/gemma4_gguf_names.h"
#include "export/gguf_encode.h"
#include "export/gguf_vocab.h"
#include "export/parallel_rows.h"
#include "export/row_streaming.h"
#include "export/write_behind.h"
#include "formats/safetensors.h"
#include "io/error.h"
#include "model/checkpoint_layout.h"
#include "model/gemma4_tensors.h"
#include "model/quant_targets.h"
#include "run/quantization.h"
#include "run/run_folder.h"

namespace gq {

namespace {

namespace fs = std::filesystem;

std::vector<int64_t> reversed(const std::vector<int64_t>& s) { return std::vector<int64_t>(s.rbegin(), s.rend()); }

// The "mostly" type for general.file_type: the type holding most Linear / expert weights.
GgmlType main_type(const std::vector<GgufTensorPlan>& plan) {
  std::map<GgmlType, int64_t> n;
  for (const GgufTensorPlan& t : plan) {
    if (t.shape.size() < 2 || t.module.empty() || t.module == "embed_tokens" || t.module == "embed_tokens_per_layer" ||
        t.module == "lm_head")
      continue;
    int64_t e = 1;
    for (int64_t d : t.shape) e *= d;
    n[t.type] += e;
  }
  GgmlType best = GgmlType::F32;
  int64_t most = -1;
  for (const auto& [type, count] : n)
    if (count > most) best = type, most = count;
  return best;
}

DType dtype_of_float_type(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return DType::F32;
    case GgmlType::F16: return DType::F16;
    case GgmlType::BF16: return DType::BF16;
    default: throw FormatError(std::string("--type ") + ggml_type_name(t) + ": the GGUF exporter writes f32, f16, bf16, q8_0, q4_0 or q2_0");
  }
}

}  // namespace

LearnedScales learned_scales_from(std::map<std::string, std::vector<float>> scales) {
  auto shared = std::make_shared<std::map<std::string, std::vector<float>>>(std::move(scales));
  return [shared](const std::string& module, GgmlType, int64_t, int64_t, std::vector<float>& out) {
    auto it = shared->find(module);
    if (it == shared->end()) return false;
    out = it->second;
    return true;
  };
}

std::vector<GgufTensorPlan> plan_gemma4_gguf(const Gemma4Config& cfg, const Checkpoint& ck, const GgufTensorTypes& types,
                                             size_t* unused_skipped) {
  const std::string prefix = detect_prefix(cfg, ck);
  std::map<std::string, std::string> module_of;  // spec name -> quant-target module
  for (const QuantTarget& t : gemma4_quant_targets(cfg))
    if (!t.tensor.empty()) module_of[t.tensor] = t.name;

  auto type_of = [&](const TensorSpec& s, const std::string& module) {
    if (s.shape.size() < 2 || s.component == Component::Router) return GgmlType::F32;  // norms, scales, router
    auto it = types.modules.find(module);
    return it != types.modules.end() ? it->second : types.unquantized;
  };

  std::vector<GgufTensorPlan> out;
  std::set<std::string> known;
  size_t skipped = 0;
  bool has_full = false;
  for (int64_t i = 0; i < cfg.L(); ++i) has_full |= !cfg.is_sliding(i);
  for (const TensorSpec& s : gemma4_tensor_specs(cfg)) {
    const std::string src = stored_name(prefix, s.name);
    known.insert(src);
    const TensorView* tv = find_spec_tensor(ck, s, src);  // absent layer_scalar = 1, in HF and in llama.cpp
    if (!tv) continue;
    require_float_tensor(*tv);
    if (s.unused) {
      ++skipped;
      continue;
    }
    const std::string module = module_of.count(s.name) ? module_of[s.name] : "";
    const GgmlType type = type_of(s, module);
    out.push_back({gemma4_gguf_name(s.name), src, module, s.shape, type, type == GgmlType::F32 ? types.float_dtype : DType::F32});
    if (out.back().name.empty()) throw FormatError("internal: no GGUF name for '" + s.name + "'");
    // rope_freqs right after token_embd, as llama.cpp's converter places it.
    if (s.name == "embed_tokens.weight" && has_full) {
      const std::vector<float> rf = gemma4_rope_freqs(cfg);
      out.push_back({"rope_freqs.weight", "", "", {int64_t(rf.size())}, GgmlType::F32});
    }
  }
  count_other_tensors(ck, prefix, known);  // refuses text tensors this config lacks; towers are left out
  if (cfg.tie_word_embeddings && types.untie_head) {
    // The recipe gives the head its own type: a second copy of the table, as output.weight.
    auto h = types.modules.find("lm_head");
    const GgmlType t = h != types.modules.end() ? h->second : types.unquantized;
    out.push_back({"output.weight", stored_name(prefix, "embed_tokens.weight"), "lm_head", {cfg.vocab_size, cfg.hidden_size}, t,
                   t == GgmlType::F32 ? types.float_dtype : DType::F32});
  }
  if (unused_skipped) *unused_skipped = skipped;
  return out;
}

GgufExportResult export_gemma4_gguf(const std::string& model_dir, const std::string& out_path, const GgufExportOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  GgufExportResult res;
  res.path = out_path;
  auto warn = [&](const std::string& w) { report_warning(w, res.warnings, opt.on_warning); };

  if (opt.type && opt.recipe)
    throw FormatError("--type and --recipe both given: a recipe sets every module's type (its unquantized_dtype the rest)");
  const std::string checkpoint = run_folder::checkpoint_dir(model_dir);
  DeploymentRequest rq;
  rq.recipe = opt.recipe;
  if (opt.type) {
    rq.request_flag = std::string("--type ") + ggml_type_name(*opt.type);
    for (char& ch : rq.request_flag) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    if (gguf_block_values(*opt.type) > 0) rq.recipe = gguf_type_recipe(*opt.type);
    else rq.unquantized = dtype_of_float_type(*opt.type);
  } else if (!opt.recipe && !run_folder::read_recipe(checkpoint)) {
    rq.unquantized = DType::F16;  // a plain checkpoint without a type: f16, as llama.cpp's converter
    rq.request_flag = "--type f16";
  }
  rq.float_dtype = opt.float_dtype;
  rq.allow_rounding = opt.allow_rounding;
  const Deployment dep = plan_deployment(model_dir, rq);
  res.recipe = dep.recipe ? dep.deployed.name : "";
  res.from_run = dep.trained;
  res.deployed = dep.deployed;
  res.checkpoint = dep.checkpoint;

  const Gemma4Config cfg = Gemma4Config::load(checkpoint);
  check_llama_cpp_gemma4(cfg);
  const GgufTensorTypes types = gguf_types(cfg, dep.deployed, opt.nearest, dep.what);
  report_changes(dep, opt.rounding_effect, res.warnings, opt.on_warning);  // once the file is known to hold them
  for (const std::string& w : types.warnings) warn(w);
  LearnedScales learned_scales = opt.learned_scales;
  if (!learned_scales && dep.quant_params && dep.quant_params->has_weight_scales()) {
    std::map<std::string, std::vector<float>> scales = dep.quant_params->weight_scales();
    res.learned_available = scales.size();
    learned_scales = learned_scales_from(std::move(scales));
  }
  const Checkpoint ck = Checkpoint::open(checkpoint);
  const std::vector<GgufTensorPlan> plan = plan_gemma4_gguf(cfg, ck, types, &res.unused_skipped);

  const fs::path dir(checkpoint);
  const GgufVocab vocab = gemma4_vocab(dir.string(), cfg);
  for (const std::string& w : vocab.warnings) warn(w);
  res.vocab_source = vocab.source;
  if (int64_t(vocab.tokens.size()) != cfg.vocab_size)
    throw FormatError(vocab.source + ": " + std::to_string(vocab.tokens.size()) + " tokens, but token_embd has " +
                      std::to_string(cfg.vocab_size) + " rows (llama.cpp needs them equal)");

  std::string name = opt.name;
  if (name.empty()) name = fs::absolute(dir).lexically_normal().filename().string();
  if (name.empty()) name = fs::absolute(dir).lexically_normal().parent_path().filename().string();
  GgufWriter w(out_path);
  GgufMetadata meta = gemma4_metadata(cfg, name, llama_file_type(main_type(plan)), (dir / "generation_config.json").string());
  for (auto& kv : vocab_metadata(vocab)) meta.push_back(std::move(kv));
  for (auto& kv : meta) w.add(kv.first, std::move(kv.second));
  for (const GgufTensorPlan& t : plan) w.add_tensor(t.name, t.type, reversed(t.shape));
  res.keys = meta.size();
  res.tensors = plan.size();

  const int threads = opt.threads > 0 ? opt.threads : default_threads();
  // The encoded chunks are written behind the encoding of the next one, in order.
  WriteBehind out([&w](const uint8_t* p, size_t n) { w.write(p, n); });
  for (size_t ti = 0; ti < plan.size(); ++ti) {
    const GgufTensorPlan& t = plan[ti];
    if (opt.on_tensor) opt.on_tensor(ti, plan.size(), t.name);
    ++res.tensors_by_type[ggml_type_name(t.type)];
    const std::string what = out_path + ": tensor '" + t.name + "'" + (t.source.empty() ? "" : " (from '" + t.source + "')");
    if (t.source.empty()) {  // rope_freqs
      const std::vector<float> rf = gemma4_rope_freqs(cfg);
      std::memcpy(out.append(rf.size() * sizeof(float)), rf.data(), rf.size() * sizeof(float));
      continue;
    }
    const TensorView& tv = ck.tensor(t.source);
    res.input_bytes += tv.nbytes;
    const int64_t cols = t.shape.back();
    const int64_t rows = cols > 0 ? tv.numel() / cols : 0;
    const uint64_t row_bytes = ggml_row_bytes(t.type, cols);

    std::vector<float> scales;
    const int64_t block = gguf_block_values(t.type);
    const bool learned = block > 0 && learned_scales && learned_scales(t.module, t.type, rows, cols, scales);
    if (learned) {
      if (int64_t(scales.size()) != rows * (cols / block))
        throw FormatError(what + ": learned scales for '" + t.module + "' have " + std::to_string(scales.size()) +
                          " values, expected " + std::to_string(rows * (cols / block)) + " (" + std::to_string(rows) +
                          " rows x " + std::to_string(cols / block) + " blocks)");
      ++res.learned_modules;
    }

    // A learnable recipe on a plain checkpoint deploys what its fake quant computes before any
    // training: the learned-scale rule (codes clamp(round(w / fp16(d)))) at ggml's RTN d, which
    // differs from ggml's own RTN codes (w * (1 / d), d unrounded) at a few boundary values.
    const bool learned_rule_at_rtn =
        block > 0 && !learned && !dep.trained && dep.deployed.learns_scale(t.module, cfg.tie_word_embeddings);
    const bool recover = block > 0 && !learned && !learned_rule_at_rtn && opt.grid_recovery && !dep.trained &&
                         (tv.dtype == DType::F32 || tv.dtype == DType::BF16 || tv.dtype == DType::F16);
    quant::GridRecoveryCounts grid;
    std::mutex grid_mu;
    const int64_t chunk = chunk_rows(opt.chunk_bytes, cols);
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
      const int64_t n = std::min(chunk, rows - r0);
      uint8_t* const obuf = out.append(size_t(uint64_t(n) * row_bytes));
      parallel_rows(n, threads, [&](int64_t b, int64_t e) {
        const TensorView mine_src = row_slice(tv, cols, r0 + b, e - b);
        populate_pages(mine_src.data, mine_src.nbytes);
        // The thread's rows widened to float32 a few at a time, as the encoder asks for them.
        std::vector<float> xs;
        const FloatRows x = [&](int64_t i, int64_t m) {
          xs.resize(size_t(m * cols));
          row_slice(tv, cols, r0 + b + i, m).to_f32(xs.data());
          if (t.round_to != DType::F32) round_rows_to(t.round_to, xs.data(), m, cols, what, r0 + b + i);
          return static_cast<const float*>(xs.data());
        };
        quant::GridRecoveryCounts mine;
        const GridRecoveryRequest req{tv.dtype, &mine};
        uint8_t* o = obuf + uint64_t(b) * row_bytes;
        if (learned_rule_at_rtn) {  // RTN scales of the whole range first, then the rule at them
          const float* xr = x(0, e - b);
          std::vector<float> rtn(size_t((e - b) * (cols / block)));
          gguf_rtn_scales(t.type, xr, rtn.data(), e - b, cols, what);
          encode_rows(t.type, xr, e - b, cols, rtn.data(), o, what, r0 + b);
          return;
        }
        const float* given = learned ? scales.data() + (r0 + b) * (cols / block) : nullptr;
        encode_rows(t.type, x, e - b, cols, given, o, what, r0 + b, recover ? &req : nullptr);
        std::lock_guard<std::mutex> lock(grid_mu);
        grid += mine;
      });
      out.flush();
      // The chunk's source pages are read: release them now, so memory stays at one chunk.
      const TensorView src = row_slice(tv, cols, r0, n);
      release_pages(src.data, size_t(n * cols) * dtype_size(tv.dtype));
    }
    release_pages(tv.data, tv.nbytes);
    if (recover) res.grid_recovery[ggml_type_name(t.type)] += grid;
    if (grid.scale_unstorable)
      warn(what + ": " + std::to_string(grid.scale_unstorable) +
           " blocks lie on a grid whose scale fp16 cannot hold; written with ggml's RTN instead");
  }
  out.finish();
  w.finish();
  res.bytes = w.file_size();
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace gq
