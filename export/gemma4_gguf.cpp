#include "export/gemma4_gguf.h"

#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>

#include "export/gemma4_gguf_meta.h"
#include "export/gemma4_gguf_names.h"
#include "export/gguf_encode.h"
#include "export/gguf_vocab.h"
#include "export/parallel_rows.h"
#include "io/error.h"
#include "model/gemma4_tensors.h"
#include "model/quant_targets.h"
#include "formats/safetensors.h"

namespace gq {

namespace {

namespace fs = std::filesystem;

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// The text weights' prefix: the config's, unless the checkpoint plainly uses the other layout
// (the rule of qat/checkpoint_loader.cpp).
std::string detect_prefix(const Gemma4Config& cfg, const Checkpoint& ck) {
  const std::string mm = "model.language_model.", lm = "model.";
  if (ck.has(cfg.weight_prefix + "embed_tokens.weight")) return cfg.weight_prefix;
  if (ck.has(mm + "embed_tokens.weight")) return mm;
  if (ck.has(lm + "embed_tokens.weight")) return lm;
  return cfg.weight_prefix;
}

// Tensors under "model." that belong to the multimodal towers, not to the text model.
bool is_other_tower(const std::string& n) {
  return starts_with(n, "model.language_model.") || starts_with(n, "model.vision_") || starts_with(n, "model.audio_") ||
         starts_with(n, "model.embed_vision") || starts_with(n, "model.embed_audio");
}

std::vector<int64_t> reversed(const std::vector<int64_t>& s) { return std::vector<int64_t>(s.rbegin(), s.rend()); }

// Rows [row0, row0 + n) of a [rows, cols] view.
TensorView row_slice(const TensorView& v, int64_t cols, int64_t row0, int64_t n) {
  TensorView s = v;
  const size_t es = dtype_size(v.dtype);
  s.data = v.data + size_t(row0 * cols) * es;
  s.shape = {n, cols};
  s.nbytes = size_t(n * cols) * es;
  return s;
}

// Drops the checkpoint pages of a tensor once it is written: the mapping is read-only and private,
// so the kernel simply re-reads them if needed. Keeps the resident set near one chunk instead of
// growing to the whole checkpoint.
void release_pages(const uint8_t* p, size_t n) {
  static const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t b = (uintptr_t(p) + page - 1) / page * page, e = (uintptr_t(p) + n) / page * page;
  if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

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

std::vector<GgufTensorPlan> plan_gemma4_gguf(const Gemma4Config& cfg, const Checkpoint& ck, const GgufTypePlan& types,
                                             size_t* unused_skipped) {
  const std::string prefix = detect_prefix(cfg, ck);
  auto stored = [&](const std::string& n) { return n == "lm_head.weight" ? n : prefix + n; };
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
    const std::string src = stored(s.name);
    known.insert(src);
    if (!ck.has(src)) {
      if (s.unused) continue;
      if (ends_with(s.name, "layer_scalar")) continue;  // absent = 1, in HF and in llama.cpp
      throw FormatError(ck.path() + ": tensor '" + src + "' is missing (expected shape " + shape_str(s.shape) + ")");
    }
    const TensorView& tv = ck.tensor(src);
    if (tv.shape != s.shape)
      throw FormatError(tv.file + ": tensor '" + src + "' has shape " + shape_str(tv.shape) + ", config implies " +
                        shape_str(s.shape));
    if (!dtype_is_float(tv.dtype))
      throw FormatError(tv.file + ": tensor '" + src + "' has dtype " + dtype_name(tv.dtype) + ", expected a float type");
    if (s.unused) {
      ++skipped;
      continue;
    }
    const std::string module = module_of.count(s.name) ? module_of[s.name] : "";
    out.push_back({gemma4_gguf_name(s.name), src, module, s.shape, type_of(s, module)});
    if (out.back().name.empty()) throw FormatError("internal: no GGUF name for '" + s.name + "'");
    // rope_freqs right after token_embd, as llama.cpp's converter places it.
    if (s.name == "embed_tokens.weight" && has_full) {
      const std::vector<float> rf = gemma4_rope_freqs(cfg);
      out.push_back({"rope_freqs.weight", "", "", {int64_t(rf.size())}, GgmlType::F32});
    }
  }
  for (const std::string& n : ck.names()) {
    if (known.count(n)) continue;
    if (starts_with(n, prefix) && !(prefix == "model." && is_other_tower(n)))
      throw FormatError(ck.path() + ": tensor '" + n + "' is not part of a Gemma 4 text model with this config");
  }
  if (cfg.tie_word_embeddings && types.untie_head) {
    // The recipe gives the head its own type: a second copy of the table, as output.weight.
    auto h = types.modules.find("lm_head");
    const GgmlType t = h != types.modules.end() ? h->second : types.unquantized;
    out.push_back({"output.weight", stored("embed_tokens.weight"), "lm_head", {cfg.vocab_size, cfg.hidden_size}, t});
  }
  if (unused_skipped) *unused_skipped = skipped;
  return out;
}

GgufExportResult export_gemma4_gguf(const std::string& model_dir, const std::string& out_path, const GgufExportOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  GgufExportResult res;
  res.path = out_path;
  auto warn = [&](const std::string& w) {
    res.warnings.push_back(w);
    if (opt.on_warning) opt.on_warning(w);
    else std::fprintf(stderr, "gemma-qat: warning: %s\n", w.c_str());
  };

  const Gemma4Config cfg = Gemma4Config::load(model_dir);
  check_llama_cpp_gemma4(cfg);
  const GgufTypePlan types = opt.recipe ? gguf_types_for_recipe(cfg, *opt.recipe, opt.nearest)
                                        : gguf_types_for_type(cfg, opt.type);
  for (const std::string& w : types.warnings) warn(w);
  const Checkpoint ck = Checkpoint::open(model_dir);
  const std::vector<GgufTensorPlan> plan = plan_gemma4_gguf(cfg, ck, types, &res.unused_skipped);

  const fs::path dir = fs::is_directory(model_dir) ? fs::path(model_dir) : fs::path(model_dir).parent_path();
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
  std::vector<float> xbuf;
  std::vector<uint8_t> obuf;
  for (size_t ti = 0; ti < plan.size(); ++ti) {
    const GgufTensorPlan& t = plan[ti];
    if (opt.on_tensor) opt.on_tensor(ti, plan.size(), t.name);
    ++res.tensors_by_type[ggml_type_name(t.type)];
    const std::string what = out_path + ": tensor '" + t.name + "'" + (t.source.empty() ? "" : " (from '" + t.source + "')");
    if (t.source.empty()) {  // rope_freqs
      const std::vector<float> rf = gemma4_rope_freqs(cfg);
      w.write(rf.data(), rf.size() * sizeof(float));
      continue;
    }
    const TensorView& tv = ck.tensor(t.source);
    res.input_bytes += tv.nbytes;
    const int64_t cols = t.shape.back();
    const int64_t rows = cols > 0 ? tv.numel() / cols : 0;
    const uint64_t row_bytes = ggml_row_bytes(t.type, cols);

    std::vector<float> scales;
    const int64_t block = gguf_block_values(t.type);
    const bool learned = block > 0 && opt.learned_scales && opt.learned_scales(t.module, t.type, rows, cols, scales);
    if (learned) {
      if (int64_t(scales.size()) != rows * (cols / block))
        throw FormatError(what + ": learned scales for '" + t.module + "' have " + std::to_string(scales.size()) +
                          " values, expected " + std::to_string(rows * (cols / block)) + " (" + std::to_string(rows) +
                          " rows x " + std::to_string(cols / block) + " blocks)");
      ++res.learned_modules;
    }

    const int64_t chunk = std::max<int64_t>(1, int64_t(opt.chunk_bytes / (sizeof(float) * size_t(std::max<int64_t>(cols, 1)))));
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
      const int64_t n = std::min(chunk, rows - r0);
      xbuf.resize(size_t(n * cols));
      obuf.resize(size_t(uint64_t(n) * row_bytes));
      parallel_rows(n, threads, [&](int64_t b, int64_t e) {
        row_slice(tv, cols, r0 + b, e - b).to_f32(xbuf.data() + b * cols);
        encode_rows(t.type, xbuf.data() + b * cols, e - b, cols,
                    learned ? scales.data() + (r0 + b) * (cols / block) : nullptr, obuf.data() + uint64_t(b) * row_bytes,
                    what, r0 + b);
      });
      w.write(obuf.data(), obuf.size());
    }
    release_pages(tv.data, tv.nbytes);
  }
  w.finish();
  res.bytes = w.file_size();
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace gq
