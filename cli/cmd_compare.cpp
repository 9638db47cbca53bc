// `compare`: QAT against the PTQ baselines, per recipe. For each recipe x method it makes a run
// folder (ptq --method rtn|gptq|awq, or train with the recipe distilled from the float model), evaluates
// it with `eval` on --data-eval (and the float model once), exports it to the recipe's formats and
// checks each file on the reference engine, then writes DIR/results.json, DIR/report.md and
// DIR/report.html (report/). Each cell DIR/<recipe>/<method>/ ends with done.json, written last and
// holding the parameters it was made with: a rerun reuses a cell whose parameters are unchanged and
// redoes any other.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/export_validation.h"
#include "cli/options.h"
#include "cli/subcommand.h"
#include "export/compressed_tensors.h"
#include "export/gemma4_gguf.h"
#include "export/native_writer.h"
#include "io/crc32c.h"
#include "io/error.h"
#include "io/text_file.h"
#include "model/gemma4_config.h"
#include "model/quant_targets.h"
#include "recipes/memory_footprint.h"
#include "recipes/recipe.h"
#include "report/markdown.h"
#include "report/results.h"
#include "run/run_folder.h"
#include "run/source_dtype.h"

namespace gq::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The methods compare knows, in report order. `missing`: why one cannot run yet (refused by name).
struct Method {
  const char* name;
  const char* missing;
};
constexpr Method kMethods[] = {
    {"rtn", nullptr},
    {"gptq", nullptr},
    {"awq", nullptr},
    {"qat", nullptr},
};

struct CompareArgs {
  std::string model, recipes = "q4_0,mobile", methods = "rtn,gptq,qat", data_train, data_eval, out;
  int64_t steps = 100, seq_len = 128, batch_size = 8, samples = 128, ctx = 0, chunks = 0;
  double lr = 1e-3;
  int threads = 0;
};

std::vector<std::string> split_list(const std::string& s, const char* flag) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  if (out.empty()) throw FormatError(std::string(flag) + ": empty list");
  return out;
}

std::vector<std::string> parse_methods(const std::string& list) {
  std::set<std::string> asked;
  for (const std::string& m : split_list(list, "--methods")) {
    const Method* known = nullptr;
    for (const Method& k : kMethods)
      if (m == k.name) known = &k;
    if (!known) throw FormatError("--methods: unknown method '" + m + "' (known: rtn, gptq, awq, qat)");
    if (known->missing) throw FormatError("--methods: " + m + ": " + known->missing);
    asked.insert(m);
  }
  std::vector<std::string> out;
  for (const Method& k : kMethods)
    if (asked.count(k.name)) out.push_back(k.name);
  return out;
}

// A recipe to compare: its name (the cell's folder), where it was given, what it deploys.
struct RecipeCell {
  std::string arg, name;
  ResolvedRecipe resolved;
  std::vector<std::string> formats;  // the recipe's own storage format, then the native one
};

std::vector<RecipeCell> load_recipes(const CompareArgs& a, const Gemma4Config& cfg) {
  std::vector<RecipeCell> out;
  std::set<std::string> names;
  for (const std::string& arg : split_list(a.recipes, "--recipes")) {
    RecipeCell c;
    c.arg = arg;
    c.resolved = resolve_recipe(Recipe::load(arg), gemma4_quant_targets(cfg), run_folder::source_float_dtype(a.model));
    c.name = c.resolved.name;
    if (c.name.empty() || c.name.find_first_of("/\\") != std::string::npos || c.name == "." || c.name == ".." ||
        c.name == "float")
      throw FormatError(arg + ": recipe name '" + c.name + "' cannot name a folder of the comparison");
    if (!names.insert(c.name).second) throw FormatError("--recipes: recipe '" + c.name + "' given twice");
    c.formats = {storage_format_name(default_storage_format(c.resolved)), "native"};
    out.push_back(std::move(c));
  }
  return out;
}

json read_json(const std::string& path) {
  try {
    return json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    throw FormatError(path + ": " + e.what());
  }
}

std::string crc_hex(const std::string& s) {
  char b[16];
  std::snprintf(b, sizeof b, "%08x", crc32c(s.data(), s.size()));
  return b;
}

// One cell's folder and its done-marker: complete only when done.json names these parameters.
class Cell {
 public:
  Cell(fs::path dir, json params) : dir_(std::move(dir)), params_(std::move(params)) {}
  const fs::path& dir() const { return dir_; }
  std::string path(const char* name) const { return (dir_ / name).string(); }
  // true: done with these parameters (reuse). false: the folder is cleared for a fresh start.
  bool reusable(const std::string& label) {
    const fs::path marker = dir_ / "done.json";
    std::error_code ec;
    if (fs::exists(marker, ec)) {
      const json d = read_json(marker.string());
      if (d.value("params", json()) == params_) {
        done_ = d;
        std::fprintf(stderr, "compare: %s: reusing %s (done, same parameters)\n", label.c_str(), dir_.c_str());
        return true;
      }
      std::fprintf(stderr, "compare: %s: parameters changed since %s was made: redoing it\n", label.c_str(), dir_.c_str());
    } else if (fs::exists(dir_, ec)) {
      std::fprintf(stderr, "compare: %s: %s is incomplete (no done.json): redoing it\n", label.c_str(), dir_.c_str());
    }
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    return false;
  }
  void finish(json extra) {
    extra["params"] = params_;
    extra["params_crc32c"] = crc_hex(params_.dump());
    write_text_file((dir_ / "done.json").string(), extra.dump(2) + "\n");
    done_ = extra;
  }
  const json& done() const { return done_; }

 private:
  fs::path dir_;
  json params_, done_;
};

// A flag's value that reads back as the same double (std::to_string would print 1e-7 as 0.000000).
std::string exact_number(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

std::vector<std::string> with_threads(std::vector<std::string> args, int threads) {
  if (threads > 0) args.insert(args.end(), {"--threads", std::to_string(threads)});
  return args;
}

void run_logged(const std::string& label, const std::vector<std::string>& args) {
  std::fprintf(stderr, "compare: %s: %s\n", label.c_str(), command_line(args).c_str());
  std::fflush(stderr);
  run_subcommand(args);
  std::fflush(stdout);
}

// Exports a run to each of its recipe's formats and checks each file on the reference engine.
json export_run(const std::string& label, const std::string& run, const Cell& cell, const RecipeCell& rc, int threads) {
  json files = json::array();
  for (const std::string& f : rc.formats) {
    std::string path, validation;
    bool written = true, validated = false;
    std::fprintf(stderr, "compare: %s: export %s\n", label.c_str(), f.c_str());
    try {
      if (f == "gguf") {
        GgufExportOptions opt;
        opt.threads = threads;
        const GgufExportResult r = export_gemma4_gguf(run, path = cell.path("model.gguf"), opt);
        validation = validate_gguf_export(r, "");
        validated = true;
      } else if (f == "native") {
        NativeExportOptions opt;
        opt.threads = threads;
        const NativeExportResult r = export_native(run, path = cell.path("model.gqn"), opt);
        validation = validate_native_export(r, "");
        validated = true;
      } else {
        CompressedTensorsExportOptions opt;
        opt.threads = threads;
        export_compressed_tensors(run, path = cell.path("compressed-tensors"), opt);
        validation = "written; not run here (the reference engine reads GGUF and native files; tests/contract decodes "
                     "compressed-tensors bit for bit)";
      }
    } catch (const FormatError& e) {
      written = validated = false;
      validation = std::string("FAILED: ") + e.what();
    }
    std::fprintf(stderr, "compare: %s: %s: %s\n", label.c_str(), f.c_str(), validation.c_str());
    files.push_back({{"format", f}, {"path", path}, {"written", written}, {"validated", validated}, {"validation", validation}});
  }
  return files;
}

// The report's row from eval's own --json output (so the report shows exactly eval's figures).
report::ResultRow row_from_eval(const std::string& recipe, const std::string& method, const std::string& run,
                                const std::string& eval_json, int64_t parameters) {
  const json e = read_json(eval_json);
  report::ResultRow r;
  r.recipe = recipe, r.method = method, r.run_dir = run;
  try {
    r.bytes = e.at("model_bytes").get<int64_t>();
    r.perplexity = e.at("perplexity").get<double>();
    if (e.contains("reference")) {
      const json& ref = e.at("reference");
      r.delta_ppl = ref.at("delta_ppl").get<double>();
      r.mean_kl = ref.at("mean_kl").get<double>();
      r.top1 = ref.at("top1_agreement").get<double>();
    }
  } catch (const json::exception& ex) {
    throw FormatError(eval_json + ": " + ex.what());
  }
  r.bits_per_param = double(r.bytes) * 8.0 / double(parameters);
  return r;
}

report::TrainingCurve read_curve(const std::string& recipe, const std::string& run) {
  report::TrainingCurve c{recipe, "qat", {}};
  std::ifstream in(run_folder::metrics_path(run));
  for (std::string line; std::getline(in, line);) {
    const json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("step") && j.contains("loss") && j["loss"].is_number())
      c.loss.emplace_back(j["step"].get<int64_t>(), j["loss"].get<double>());
  }
  return c;
}

void run_compare(const CompareArgs& a) {
  const std::vector<std::string> methods = parse_methods(a.methods);
  const Gemma4Config cfg = Gemma4Config::load(run_folder::checkpoint_dir(a.model));
  const std::vector<RecipeCell> recipes = load_recipes(a, cfg);
  const ResolvedRecipe unquantized =
      resolve_recipe(Recipe{}, gemma4_quant_targets(cfg), run_folder::source_float_dtype(a.model));
  report::Results res;
  res.model = a.model, res.data_train = a.data_train, res.data_eval = a.data_eval;
  res.parameters = memory_footprint(cfg, unquantized, StorageFormat::CompressedTensors, 1).total.params;

  const fs::path out(a.out);
  const json eval_params = {{"model", a.model}, {"data_eval", a.data_eval}, {"ctx", a.ctx}, {"chunks", a.chunks}};
  auto eval_args = [&](const std::string& model, const std::string& json_path) {
    std::vector<std::string> e = {"eval", model, "--data", a.data_eval, "--json", json_path};
    if (a.ctx > 0) e.insert(e.end(), {"--ctx", std::to_string(a.ctx)});
    if (a.chunks > 0) e.insert(e.end(), {"--chunks", std::to_string(a.chunks)});
    return with_threads(e, a.threads);
  };

  const size_t total = 1 + recipes.size() * methods.size();
  size_t index = 0;
  auto label_of = [&](const std::string& what) {
    return "[" + std::to_string(++index) + "/" + std::to_string(total) + "] " + what;
  };

  {  // The float model, once: the perplexity every row is compared with.
    const std::string label = label_of("float");
    Cell cell(out / "float", eval_params);
    if (!cell.reusable(label)) {
      run_logged(label, eval_args(a.model, cell.path("eval.json")));
      cell.finish(json::object());
    }
    res.rows.push_back(row_from_eval("", "float", a.model, cell.path("eval.json"), res.parameters));
  }

  int failed_exports = 0;
  for (const RecipeCell& rc : recipes)
    for (const std::string& m : methods) {
      const std::string label = label_of(rc.name + "/" + m);
      json params = eval_params;
      params.update({{"recipe", rc.arg}, {"method", m}, {"data_train", a.data_train}, {"seq_len", a.seq_len},
                     {"formats", rc.formats}});
      if (m == "qat") params.update({{"steps", a.steps}, {"batch_size", a.batch_size}, {"lr", a.lr}});
      else params.update({{"samples", a.samples}});
      Cell cell(out / rc.name / m, params);
      const std::string run = cell.path("run");
      if (!cell.reusable(label)) {
        if (m == "qat") {
          // Distilled from the float model: QAT learns what the unquantized model predicts.
          run_logged(label, with_threads({"train", "--model", a.model, "--recipe", rc.arg, "--teacher", a.model, "--data",
                                          a.data_train, "--out", run, "--steps", std::to_string(a.steps), "--seq-len",
                                          std::to_string(a.seq_len), "--batch-size", std::to_string(a.batch_size), "--lr",
                                          exact_number(a.lr), "--log-every", "1"},
                                         a.threads));
        } else {
          run_logged(label, with_threads({"ptq", "--model", a.model, "--recipe", rc.arg, "--method", m, "--data",
                                          a.data_train, "--out", run, "--seq-len", std::to_string(a.seq_len), "--samples",
                                          std::to_string(a.samples)},
                                         a.threads));
        }
        std::vector<std::string> e = eval_args(run, cell.path("eval.json"));
        e.insert(e.end(), {"--reference", a.model});
        run_logged(label, e);
        cell.finish({{"exports", export_run(label, run, cell, rc, a.threads)}});
      }
      report::ResultRow row = row_from_eval(rc.name, m, run, cell.path("eval.json"), res.parameters);
      for (const json& f : cell.done().at("exports")) {
        row.exports.push_back({f.at("format").get<std::string>(), f.at("path").get<std::string>(), f.at("written").get<bool>(),
                               f.at("validated").get<bool>(), f.at("validation").get<std::string>()});
        if (!row.exports.back().written) ++failed_exports;
      }
      res.rows.push_back(std::move(row));
      if (m == "qat") res.curves.push_back(read_curve(rc.name, run));
    }

  report::fill_rtn_gap_recovered(res);
  report::write_report(res, a.out);
  for (const report::ResultRow& r : res.rows) {
    const std::vector<std::string> cells = report::result_cells(r);
    std::printf("%-10s %-6s %10s bytes %7s bits/param  ppl %s  Δppl %s  gap recovered %s%%  KL %s  top-1 %s\n",
                cells[0].c_str(), cells[1].c_str(), cells[2].c_str(), cells[3].c_str(), cells[4].c_str(), cells[5].c_str(),
                cells[6].c_str(), cells[7].c_str(), cells[8].c_str());
  }
  std::printf("wrote %s, %s and %s\n", (out / "report.md").c_str(), (out / "report.html").c_str(),
              (out / "results.json").c_str());
  if (failed_exports)
    throw FormatError(a.out + ": " + std::to_string(failed_exports) +
                      " export(s) failed (the report says how)");
}

}  // namespace

void add_compare_command(CLI::App& app) {
  auto a = std::make_shared<CompareArgs>();
  CLI::App* cmd = app.add_subcommand(
      "compare", "QAT against PTQ baselines per recipe: run, evaluate, export and validate each, then write report.md and "
                 "report.html");
  cmd->add_option("--model", a->model, kModelHelp)->required();
  cmd->add_option("--recipes", a->recipes, "comma-separated recipes, built-in names or files (default q4_0,mobile)");
  cmd->add_option("--methods", a->methods, "comma-separated, from rtn, gptq, awq, qat (default rtn,gptq,qat)");
  cmd->add_option("--data-train", a->data_train, "calibration (PTQ) and training (QAT) text")->required();
  cmd->add_option("--data-eval", a->data_eval, "held-out text every model is evaluated on")->required();
  cmd->add_option("--out", a->out, "the comparison folder (reused by a rerun)")->required();
  cmd->add_option("--steps", a->steps, "QAT optimizer steps (default 100)")->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  cmd->add_option("--seq-len", a->seq_len, "tokens per calibration / training sequence (default 128)")
      ->check(CLI::Range(int64_t(2), int64_t(1) << 20));
  cmd->add_option("--batch-size", a->batch_size, "QAT sequences per step (default 8)")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  cmd->add_option("--lr", a->lr, "QAT peak learning rate (default 1e-3)")->check(CLI::PositiveNumber);
  cmd->add_option("--samples", a->samples, "PTQ calibration windows (default 128)")->check(CLI::Range(int64_t(1), int64_t(1) << 30));
  cmd->add_option("--ctx", a->ctx, "eval n_ctx (default: eval's)")->check(CLI::Range(int64_t(4), int64_t(1) << 20));
  cmd->add_option("--chunks", a->chunks, "eval only the first N chunks (0: all)")->check(CLI::NonNegativeNumber);
  add_threads_option(cmd, a->threads);
  cmd->callback([a] { run_compare(*a); });
}

GQ_REGISTER_COMMAND(add_compare_command);

}  // namespace gq::cli
