// An exporter's warning: kept in its result and handed to the caller's handler, or printed as
// "gemma-qat: warning: ..." on stderr when there is none.
#pragma once
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace gq {

inline void report_warning(const std::string& w, std::vector<std::string>& kept,
                           const std::function<void(const std::string&)>& on_warning) {
  kept.push_back(w);
  if (on_warning) on_warning(w);
  else std::fprintf(stderr, "gemma-qat: warning: %s\n", w.c_str());
}

}  // namespace gq
