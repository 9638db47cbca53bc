// GGUF conversion throughput and memory on a synthetic multi-GB bf16 Gemma 4 checkpoint: the
// project's exporter (export_gemma4_gguf, the code behind
// `gemma-qat convert --to gguf`) on all cores, against plain reads of the same bytes measured in
// the same run.
//
//   convert_bench [--gb G] [--threads N] [--type q4_0|q8_0|f16] [--dir TMP] [--cold] [--no-sweep]
//                 [--no-grid-recovery]
//
// 1. Writes config.json + model.safetensors (random bf16, E2B-like widths: hidden 2048,
//    intermediate 8192, 8 heads of 256 / 512, vocabulary 262144, as many layers as fit in G GB;
//    default 2) into a fresh folder under TMP ($TMPDIR or /tmp).
// 2. Runs four children, each a fresh process (exec of this binary, so that generating the file
//    leaves nothing in their memory): read() of the file in 16 MiB blocks; mmap + sum of it on N
//    threads, pages dropped per 64 MiB; the same bytes through the project's reader, bf16 -> f32
//    and a port of ggml's quantize_row_q4_0_ref on N threads, nothing written (the "~1 GB/s per
//    core" reference, measured on this machine); the conversion, written to a file and fsynced
//    (the binary is torch-free, as the exporter is). Each reports wall time, CPU time
//    (user + system, all threads: bytes per CPU second is the per-core rate, less disturbed by
//    other load on the machine than wall time, though not immune to it), its peak resident set (VmHWM) and the
//    resident set it started with (the binary and its libraries: LibTorch's when linked to gq_qat).
// 3. Prints input GB/s (bf16 bytes read per second), per core, the same as f32-equivalent GB/s
//    (4 bytes per value: how ggml's reference quantizer's ~1 GB/s per core is quoted), the ratios
//    to the baselines, and peak RSS against the largest tensor.
// 4. Unless --no-sweep: the same conversion of a checkpoint of the same size whose largest tensor
//    is 16x smaller (vocabulary 16384, more layers): peak RSS follows the largest tensor, not the
//    checkpoint.
// The conversion runs grid recovery (quant/grid_recovery.h) as `convert` does; the random weights
// lie on no grid, so this measures what recovery costs an ordinary checkpoint.
// --no-grid-recovery converts with plain RTN instead.
// The page cache is warm (the file was just written) unless --cold, which evicts the file's pages
// (posix_fadvise DONTNEED) before each child. Temporary files are removed at exit.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "export/gemma4_gguf.h"
#include "export/parallel_rows.h"
#include "export/row_streaming.h"
#include "io/error.h"
#include "model/gemma4_config.h"
#include "model/gemma4_tensors.h"
#include "io/half.h"
#include "formats/safetensors.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// kB value of a /proc/self/status line ("VmHWM:", "VmRSS:").
long status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(key);
  while (std::getline(f, line))
    if (line.compare(0, n, key) == 0) return std::atol(line.c_str() + n);
  return -1;
}

// ---- children: print "key value" lines on stdout ----

// Peak and starting resident set, and the CPU time (user + system, all threads): on a shared machine
// the wall time depends on what else runs, the CPU time per byte much less.
double cpu_now(bool sys_only = false) {
  rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  const double sys = double(ru.ru_stime.tv_sec) + 1e-6 * double(ru.ru_stime.tv_usec);
  return sys_only ? sys : sys + double(ru.ru_utime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec);
}
void report_memory(long rss0_kb, double cpu0, double sys0) {
  std::printf("rss_start_kb %ld\nhwm_kb %ld\ncpu_seconds %.6f\nsys_seconds %.6f\n", rss0_kb, status_kb("VmHWM:"),
              cpu_now() - cpu0, cpu_now(true) - sys0);
}

int child_convert(const std::string& dir, const std::string& out, int threads, const std::string& type, bool recovery) {
  const long rss0 = status_kb("VmRSS:");
  const double cpu0 = cpu_now(), sys0 = cpu_now(true);
  gq::GgufExportOptions opt;
  opt.type = *gq::ggml_type_from_name(type);
  opt.threads = threads;
  opt.grid_recovery = recovery;
  opt.on_warning = [](const std::string&) {};  // the synthesized vocabulary is expected
  const auto t0 = Clock::now();
  double first_tensor = -1, first_tensor_cpu = -1;  // the setup before it: config, plan, vocabulary, metadata
  opt.on_tensor = [&](size_t i, size_t, const std::string&) {
    if (i == 0) first_tensor = since(t0), first_tensor_cpu = cpu_now() - cpu0;
  };
  const gq::GgufExportResult r = gq::export_gemma4_gguf(dir, out, opt);
  std::printf("seconds %.6f\nsetup_seconds %.6f\nsetup_cpu_seconds %.6f\nbytes %llu\nout_bytes %llu\n", since(t0),
              first_tensor, first_tensor_cpu, (unsigned long long)r.input_bytes, (unsigned long long)r.bytes);
  report_memory(rss0, cpu0, sys0);
  return 0;
}

int child_read(const std::string& file) {
  const long rss0 = status_kb("VmRSS:");
  const double cpu0 = cpu_now(), sys0 = cpu_now(true);
  const int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0) return std::perror(file.c_str()), 1;
  std::vector<uint64_t> buf((16u << 20) / 8);
  uint64_t sum = 0, total = 0;
  const auto t0 = Clock::now();
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size() * 8);
    if (n < 0) return std::perror(file.c_str()), 1;
    if (n == 0) break;
    total += uint64_t(n);
    for (size_t i = 0; i < size_t(n) / 8; ++i) sum += buf[i];
  }
  std::printf("seconds %.6f\nbytes %llu\nchecksum %llu\n", since(t0), (unsigned long long)total, (unsigned long long)sum);
  ::close(fd);
  report_memory(rss0, cpu0, sys0);
  return 0;
}

int child_mmap_sum(const std::string& file, int threads) {
  const long rss0 = status_kb("VmRSS:");
  const double cpu0 = cpu_now(), sys0 = cpu_now(true);
  const int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0) return std::perror(file.c_str()), 1;
  struct stat st {};
  ::fstat(fd, &st);
  const size_t size = size_t(st.st_size);
  const auto t0 = Clock::now();
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) return std::perror("mmap"), 1;
  const auto* words = static_cast<const uint64_t*>(p);
  const size_t chunk = size_t(64) << 20;  // bytes, a multiple of the page size
  std::atomic<uint64_t> sum{0};
  for (size_t off = 0; off < size; off += chunk) {
    const size_t n = std::min(chunk, size - off) / 8;
    gq::parallel_rows(int64_t(n), threads, [&](int64_t b, int64_t e) {
      uint64_t s = 0;
      for (int64_t i = b; i < e; ++i) s += words[off / 8 + size_t(i)];
      sum += s;
    });
    ::madvise(static_cast<char*>(p) + off, std::min(chunk, size - off), MADV_DONTNEED);
  }
  std::printf("seconds %.6f\nbytes %zu\nchecksum %llu\n", since(t0), size, (unsigned long long)sum.load());
  ::munmap(p, size);
  ::close(fd);
  report_memory(rss0, cpu0, sys0);
  return 0;
}

// ggml's quantize_row_q4_0_ref (ggml/src/ggml-quants.c, llama.cpp v0.5.0), ported as is: block of 32,
// fp16 d = (signed max-magnitude value) / -8, nibbles min(15, (int8_t)(x / d + 8.5)).
void ggml_quantize_row_q4_0_ref(const float* x, uint8_t* y, int64_t k) {
  const int qk = 32;
  for (int64_t i = 0; i < k / qk; i++) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < qk; j++) {
      const float v = x[i * qk + j];
      if (amax < std::fabs(v)) amax = std::fabs(v), max = v;
    }
    const float d = max / -8, id = d ? 1.0f / d : 0.0f;
    uint8_t* b = y + i * 18;
    const uint16_t h = gq::f32_to_f16(d);
    std::memcpy(b, &h, 2);
    for (int j = 0; j < qk / 2; ++j) {
      const float x0 = x[i * qk + j] * id, x1 = x[i * qk + qk / 2 + j] * id;
      const uint8_t xi0 = uint8_t(std::min(15, int(int8_t(x0 + 8.5f)))), xi1 = uint8_t(std::min(15, int(int8_t(x1 + 8.5f))));
      b[2 + j] = uint8_t(xi0 | (xi1 << 4));
    }
  }
}

// The same bytes through the project's reader and bf16 -> f32, then ggml's reference Q4_0 quantizer
// on N threads, in chunks of the exporter's size (GgufExportOptions::chunk_bytes of float32), pages
// dropped per tensor; nothing written.
// Every tensor is quantized (also norms: a lower bound on the work of a real conversion).
int child_ggml_ref(const std::string& dir, int threads) {
  const long rss0 = status_kb("VmRSS:");
  const double cpu0 = cpu_now(), sys0 = cpu_now(true);
  const auto t0 = Clock::now();
  const gq::Checkpoint ck = gq::Checkpoint::open(dir);
  uint64_t bytes = 0, check = 0;
  std::vector<float> xbuf;
  std::vector<uint8_t> obuf;
  for (const std::string& name : ck.names()) {
    const gq::TensorView& tv = ck.tensor(name);
    bytes += tv.nbytes;
    const int64_t cols = tv.shape.back(), rows = tv.numel() / cols;
    if (cols % 32) continue;
    const int64_t chunk = gq::chunk_rows(gq::GgufExportOptions{}.chunk_bytes, cols);
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
      const int64_t n = std::min(chunk, rows - r0);
      xbuf.resize(size_t(n * cols));
      obuf.resize(size_t(n * cols / 32 * 18));
      gq::parallel_rows(n, threads, [&](int64_t b, int64_t e) {
        gq::TensorView s = tv;
        s.data = tv.data + size_t((r0 + b) * cols) * 2;
        s.shape = {e - b, cols};
        s.nbytes = size_t((e - b) * cols) * 2;
        s.to_f32(xbuf.data() + b * cols);
        for (int64_t r = b; r < e; ++r)
          ggml_quantize_row_q4_0_ref(xbuf.data() + r * cols, obuf.data() + r * (cols / 32) * 18, cols);
      });
      check += obuf[obuf.size() / 2];
    }
    const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
    const uintptr_t b = (uintptr_t(tv.data) + page - 1) / page * page, e = (uintptr_t(tv.data) + tv.nbytes) / page * page;
    if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
  }
  std::printf("seconds %.6f\nbytes %llu\nchecksum %llu\n", since(t0), (unsigned long long)bytes, (unsigned long long)check);
  report_memory(rss0, cpu0, sys0);
  return 0;
}

// ---- parent ----

std::string g_self;
std::string g_cleanup;  // removed on exit, also on SIGINT / SIGTERM

void on_signal(int sig) {
  if (!g_cleanup.empty()) {
    std::error_code ec;
    fs::remove_all(g_cleanup, ec);
  }
  std::_Exit(128 + sig);
}

struct Result {
  double seconds = 0, cpu_seconds = 0, sys_seconds = 0;
  double bytes = 0;
  double hwm_mb = 0, rss_start_mb = 0;
};

// Runs this binary with `args` in a fresh process; parses its "key value" lines.
Result run_child(const std::vector<std::string>& args) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(g_self.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv("/proc/self/exe", argv.data());
    std::perror("execv");
    std::_Exit(127);
  }
  ::close(pipefd[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("child '" + args[0] + "' failed (status " + std::to_string(status) + ")");
  std::map<std::string, double> kv;
  std::istringstream in(out);
  std::string k;
  double v;
  while (in >> k >> v) kv[k] = v;
  Result r;
  r.seconds = kv["seconds"];
  r.cpu_seconds = kv["cpu_seconds"];
  r.sys_seconds = kv["sys_seconds"];
  r.bytes = kv["bytes"];
  r.hwm_mb = kv["hwm_kb"] / 1024.0;
  r.rss_start_mb = kv["rss_start_kb"] / 1024.0;
  return r;
}

struct Shape {
  int64_t hidden = 2048, intermediate = 8192, heads = 8, head_dim = 256, global_head_dim = 512, vocab = 262144;
  int64_t layers = 8;
};

nlohmann::json config_json(const Shape& s) {
  nlohmann::json types = nlohmann::json::array();
  for (int64_t i = 0; i < s.layers; ++i)
    types.push_back((i % 5 == 4 || i == s.layers - 1) ? "full_attention" : "sliding_attention");
  return {{"architectures", {"Gemma4ForCausalLM"}},
          {"model_type", "gemma4_text"},
          {"vocab_size", s.vocab},
          {"vocab_size_per_layer_input", s.vocab},
          {"hidden_size", s.hidden},
          {"intermediate_size", s.intermediate},
          {"num_hidden_layers", s.layers},
          {"layer_types", types},
          {"num_attention_heads", s.heads},
          {"num_key_value_heads", 1},
          {"head_dim", s.head_dim},
          {"global_head_dim", s.global_head_dim},
          {"attention_k_eq_v", false},
          {"hidden_size_per_layer_input", 0},
          {"num_kv_shared_layers", 0},
          {"enable_moe_block", false},
          {"sliding_window", 512},
          {"max_position_embeddings", 32768},
          {"rope_parameters",
           {{"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 10000.0}}},
            {"full_attention", {{"rope_type", "proportional"}, {"partial_rotary_factor", 0.25}, {"rope_theta", 1000000.0}}}}},
          {"final_logit_softcapping", 30.0},
          {"rms_norm_eps", 1e-6},
          {"hidden_activation", "gelu_pytorch_tanh"},
          {"tie_word_embeddings", true},
          {"pad_token_id", 0},
          {"eos_token_id", 1},
          {"bos_token_id", 2},
          {"dtype", "bfloat16"}};
}

int64_t spec_bytes(const std::vector<gq::TensorSpec>& specs, int64_t* largest) {
  int64_t total = 0;
  for (const gq::TensorSpec& t : specs) {
    if (t.unused) continue;
    total += t.numel() * 2;
    if (largest) *largest = std::max(*largest, t.numel() * 2);
  }
  return total;
}

// The shape whose bf16 checkpoint is closest to `gb` GB: layers added to the fixed widths.
Shape shape_for(double gb, int64_t vocab) {
  Shape s;
  s.vocab = vocab;
  const fs::path tmp = fs::temp_directory_path() / ("convert_bench_cfg_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  auto bytes_for = [&](int64_t layers) {
    s.layers = layers;
    std::ofstream(tmp / "config.json") << config_json(s).dump();
    return spec_bytes(gq::gemma4_tensor_specs(gq::Gemma4Config::load(tmp.string())), nullptr);
  };
  const int64_t b1 = bytes_for(1), b5 = bytes_for(5);
  const double per_layer = double(b5 - b1) / 4, base = double(b1) - per_layer;
  s.layers = std::max<int64_t>(1, std::llround((gb * 1e9 - base) / per_layer));
  fs::remove_all(tmp);
  return s;
}

// Random bf16 weights (|w| in about [0.002, 0.03], both signs, never 0 / inf / nan), written with
// the safetensors layout: 8-byte header length, JSON header padded to 8 bytes, data in order.
void write_checkpoint(const fs::path& dir, const Shape& s, int threads, int64_t* total, int64_t* largest) {
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << config_json(s).dump(2);
  const gq::Gemma4Config cfg = gq::Gemma4Config::load(dir.string());
  std::vector<gq::TensorSpec> specs;
  for (const gq::TensorSpec& t : gq::gemma4_tensor_specs(cfg))
    if (!t.unused) specs.push_back(t);
  *largest = 0;
  *total = spec_bytes(specs, largest);
  nlohmann::json header = nlohmann::json::object();
  int64_t off = 0;
  for (const gq::TensorSpec& t : specs) {
    const int64_t n = t.numel() * 2;
    header[cfg.weight_prefix + t.name] = {{"dtype", "BF16"}, {"shape", t.shape}, {"data_offsets", {off, off + n}}};
    off += n;
  }
  std::string h = header.dump();
  while (h.size() % 8) h += ' ';
  const std::string path = (dir / "model.safetensors").string();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error(path + ": cannot create");
  const uint64_t hl = h.size();
  std::fwrite(&hl, 8, 1, f);
  std::fwrite(h.data(), 1, h.size(), f);
  std::vector<uint64_t> buf((64u << 20) / 8);
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  for (int64_t left = off; left > 0;) {
    const size_t n = size_t(std::min<int64_t>(left, int64_t(buf.size() * 8)));
    const uint64_t base = seed;
    gq::parallel_rows(int64_t((n + 7) / 8), threads, [&](int64_t b, int64_t e) {
      uint64_t x = base ^ (uint64_t(b) * 0xbf58476d1ce4e5b9ull) ^ 0x94d049bb133111ebull;
      for (int64_t i = b; i < e; ++i) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
        uint64_t w = 0;
        for (int k = 0; k < 4; ++k) {
          const uint64_t r = (x >> (16 * k)) & 0xffff;
          // sign | exponent 118..121 (2^-9 .. 2^-6) | 7 mantissa bits
          const uint64_t bf = ((r & 1) << 15) | ((118 + ((r >> 1) & 3)) << 7) | ((r >> 3) & 0x7f);
          w |= bf << (16 * k);
        }
        buf[size_t(i)] = w;
      }
    });
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    if (std::fwrite(buf.data(), 1, n, f) != n) throw std::runtime_error(path + ": write failed (disk full?)");
    left -= int64_t(n);
  }
  if (std::fflush(f) != 0 || ::fsync(::fileno(f)) != 0) throw std::runtime_error(path + ": flush failed");
  std::fclose(f);
}

void evict(const std::string& file) {
  const int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

struct Run {
  Result read, mmap, ggml, convert;
  int64_t total = 0, largest = 0;
  double gen_s = 0;
};

Run bench_one(const fs::path& root, const Shape& s, int threads, const std::string& type, bool cold, bool baselines,
              bool recovery) {
  Run r;
  const fs::path dir = root / "model";
  const auto t0 = Clock::now();
  write_checkpoint(dir, s, threads, &r.total, &r.largest);
  r.gen_s = since(t0);
  const std::string st = (dir / "model.safetensors").string(), out = (root / "model.gguf").string();
  if (baselines) {
    if (cold) evict(st);
    r.read = run_child({"--child-read", st});
    if (cold) evict(st);
    r.mmap = run_child({"--child-mmap-sum", st, std::to_string(threads)});
    if (cold) evict(st);
    r.ggml = run_child({"--child-ggml-ref", dir.string(), std::to_string(threads)});
  }
  if (cold) evict(st);
  r.convert = run_child({"--child-convert", dir.string(), out, std::to_string(threads), type, recovery ? "recover" : "rtn"});
  fs::remove_all(dir);
  fs::remove(out);
  return r;
}

double gbps(const Result& r) { return r.bytes / r.seconds / 1e9; }

}  // namespace

int main(int argc, char** argv) {
  g_self = argv[0];
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "--child-convert" && argc == 7)
      return child_convert(argv[2], argv[3], std::atoi(argv[4]), argv[5], std::string(argv[6]) == "recover");
    if (mode == "--child-read" && argc == 3) return child_read(argv[2]);
    if (mode == "--child-mmap-sum" && argc == 4) return child_mmap_sum(argv[2], std::atoi(argv[3]));
    if (mode == "--child-ggml-ref" && argc == 4) return child_ggml_ref(argv[2], std::atoi(argv[3]));

    double gb = 2;
    int threads = 0;
    std::string type = "q4_0", tmp;
    bool cold = false, sweep = true, recovery = true;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--gb" && i + 1 < argc) gb = std::atof(argv[++i]);
      else if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
      else if (a == "--type" && i + 1 < argc) type = argv[++i];
      else if (a == "--dir" && i + 1 < argc) tmp = argv[++i];
      else if (a == "--cold") cold = true;
      else if (a == "--no-sweep") sweep = false;
      else if (a == "--no-grid-recovery") recovery = false;
      else {
        std::fprintf(stderr, "usage: convert_bench [--gb G] [--threads N] [--type q4_0|q8_0|f16] [--dir TMP] [--cold] [--no-sweep] "
                             "[--no-grid-recovery]\n");
        return 2;
      }
    }
    if (!(gb > 0.05)) throw std::runtime_error("--gb must be above 0.05");
    if (!gq::ggml_type_from_name(type)) throw std::runtime_error("--type: unknown type '" + type + "'");
    if (threads <= 0) threads = gq::default_threads();
    const fs::path base = tmp.empty() ? fs::temp_directory_path() : fs::path(tmp);
    const fs::path root = base / ("convert_bench_" + std::to_string(::getpid()));
    fs::create_directories(root);
    g_cleanup = root.string();
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    struct Cleanup {
      fs::path p;
      ~Cleanup() {
        std::error_code ec;
        fs::remove_all(p, ec);
      }
    } cleanup{root};

    // Gemma's 262144-token vocabulary (a 1.07 GB bf16 embedding, the largest tensor); below 1.5 GB it
    // shrinks so that layers still make up about half the file.
    const int64_t vocab = gb >= 1.5 ? 262144 : std::max<int64_t>(4096, int64_t(gb * 1e9 / 2 / (2048 * 2)) / 256 * 256);
    const Shape s = shape_for(gb, vocab);
    std::printf("convert_bench: synthetic bf16 Gemma 4 (hidden %lld, intermediate %lld, %lld layers, vocabulary %lld) -> "
                "GGUF %s%s, %d threads, %s page cache, temp %s\n",
                (long long)s.hidden, (long long)s.intermediate, (long long)s.layers, (long long)s.vocab, type.c_str(),
                recovery ? " (grid recovery on)" : " (plain RTN)", threads, cold ? "cold" : "warm", root.c_str());
    std::fflush(stdout);
    const Run r = bench_one(root, s, threads, type, cold, true, recovery);
    std::printf("checkpoint: %.2f GB bf16 (largest tensor %.0f MiB; MB below are MiB), written in %.1f s\n\n", r.total / 1e9, r.largest / 1048576.0,
                r.gen_s);
    // GB/s per core = bytes / CPU seconds (all threads): robust to other load on the machine.
    std::printf("%-32s %7s %7s %7s %8s %10s %10s %9s %9s\n", "step (fresh process each)", "wall s", "CPU s", "of sys",
                "GB/s", "GB/s/core", "f32-eq/c", "peak RSS", "at start");
    auto row = [&](const std::string& name, const Result& x, bool f32eq) {
      const double per_core = x.bytes / x.cpu_seconds / 1e9;
      char eq[32] = "-";
      if (f32eq) std::snprintf(eq, sizeof eq, "%.3f", 2 * per_core);
      std::printf("%-32s %7.2f %7.2f %7.2f %8.3f %10.3f %10s %6.0f MB %6.0f MB\n", name.c_str(), x.seconds, x.cpu_seconds,
                  x.sys_seconds, gbps(x), per_core, eq, x.hwm_mb, x.rss_start_mb);
    };
    row("read() 16 MiB blocks, 1 thread", r.read, false);
    row("mmap + sum, " + std::to_string(threads) + " threads", r.mmap, false);
    row("ggml q4_0 ref (no write), " + std::to_string(threads) + " thr", r.ggml, true);
    row("convert -> " + type + ", " + std::to_string(threads) + " threads", r.convert, true);
    const double conv_core = r.convert.bytes / r.convert.cpu_seconds / 1e9;
    std::printf("\nconvert: %.2f GB of bf16 in %.2f s wall = %.3f GB/s on %d threads; per core %.3f GB/s of bf16 input,\n"
                "  i.e. %.3f GB/s counted as f32 input (4 bytes/value), which is how ggml's reference quantizer's\n"
                "  ~1 GB/s per core is quoted: %.2fx of it\n",
                r.convert.bytes / 1e9, r.convert.seconds, gbps(r.convert), threads, conv_core, 2 * conv_core, 2 * conv_core);
    auto core = [](const Result& x) { return x.bytes / x.cpu_seconds / 1e9; };
    std::printf("  vs the same bytes read plainly: wall GB/s %.3fx read(), %.3fx mmap+sum; per core %.3fx read(), %.3fx mmap+sum\n",
                gbps(r.convert) / gbps(r.read), gbps(r.convert) / gbps(r.mmap), conv_core / core(r.read), conv_core / core(r.mmap));
    std::printf("\nratio vs ggml's reference Q4_0 quantizer (the same bytes read, converted to f32 and quantized, not\n"
                "  written; measured in this run on %d threads): conversion speed wall %.2fx, per core %.2fx\n"
                "  (above 1: the conversion, which also writes and fsyncs the file, is faster); that baseline runs at\n"
                "  %.3f GB/s f32-equivalent per core\n\n",
                threads, gbps(r.convert) / gbps(r.ggml), conv_core / core(r.ggml), 2 * core(r.ggml));
    std::printf("peak RSS: convert %.0f MB = %.0f MB at start + %.0f MB; largest tensor %.0f MB (%.2fx), checkpoint %.0f MB;\n"
                "  read() +%.0f MB, mmap+sum +%.0f MB\n",
                r.convert.hwm_mb, r.convert.rss_start_mb, r.convert.hwm_mb - r.convert.rss_start_mb, r.largest / 1048576.0,
                (r.convert.hwm_mb - r.convert.rss_start_mb) / (r.largest / 1048576.0), r.total / 1048576.0,
                r.read.hwm_mb - r.read.rss_start_mb, r.mmap.hwm_mb - r.mmap.rss_start_mb);

    if (sweep) {
      // Same size, largest tensor 16x smaller: peak RSS should follow the largest tensor.
      const Shape s2 = shape_for(gb, std::max<int64_t>(4096, s.vocab / 16 / 256 * 256));
      std::printf("\npeak RSS vs largest tensor: a second checkpoint of the same size, vocabulary %lld, %lld layers\n",
                  (long long)s2.vocab, (long long)s2.layers);
      std::fflush(stdout);
      const Run r2 = bench_one(root, s2, threads, type, cold, false, recovery);
      std::printf("%-22s %8s %13s %13s %15s %16s %9s\n", "checkpoint", "GB", "largest MB", "peak RSS MB", "RSS increase MB",
                  "increase/largest", "GB/s");
      for (const Run* x : {&r, &r2}) {
        const double inc = x->convert.hwm_mb - x->convert.rss_start_mb;
        std::printf("vocabulary %-11lld %8.2f %13.0f %13.0f %15.0f %16.2f %9.3f\n", (long long)(x == &r ? s.vocab : s2.vocab),
                    x->total / 1e9, x->largest / 1048576.0, x->convert.hwm_mb, inc, inc / (x->largest / 1048576.0),
                    gbps(x->convert));
      }
      const double d_inc = (r.convert.hwm_mb - r.convert.rss_start_mb) - (r2.convert.hwm_mb - r2.convert.rss_start_mb);
      const double d_largest = (r.largest - r2.largest) / 1048576.0;
      std::printf("difference: the RSS increase grows %.2f MB per MB of largest tensor; what stays (%.0f MB) is one\n"
                  "  chunk of rows (GgufExportOptions::chunk_bytes of float32, 16 MiB: its checkpoint pages, mapped per\n"
                  "  chunk and dropped once encoded) and the two encoded buffers (one filled, one being written)\n",
                  d_inc / d_largest, (r2.convert.hwm_mb - r2.convert.rss_start_mb) - r2.largest / 1048576.0 * d_inc / d_largest);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "convert_bench: %s\n", e.what());
    return 1;
  }
}
