// One measurement in a fresh process, so that its peak RSS is its own (engine_bench,
// footprint_bench): runs argv, waits for it and returns the last line it printed on stdout, parsed
// as JSON, with "peak_rss_kb" (wait4's ru_maxrss) added. FormatError when it cannot start or fails.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gq::bench {

nlohmann::json run_measured(const std::vector<std::string>& argv);

}  // namespace gq::bench
