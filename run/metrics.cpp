#include "run/metrics.h"

#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/text_file.h"
#include "run/run_folder.h"

namespace gq::run_folder {

void trim_metrics(const std::string& run_dir, int64_t step) {
  const std::string path = metrics_path(run_dir);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;
  std::istringstream in(read_text_file(path));
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) continue;
    const auto s = j.find("step");
    if (s == j.end() || (s->is_number() && s->get<int64_t>() <= step)) kept += line + "\n";
  }
  write_text_file(path, kept);
}

}  // namespace gq::run_folder
