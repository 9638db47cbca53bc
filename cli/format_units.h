// Human-readable counts and sizes for CLI tables (decimal units, as model cards quote them).
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

namespace gq::cli {

inline std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000 && u < 4) bytes /= 1000, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", bytes, units[u]);
  return buf;
}

inline std::string human_count(int64_t n) {
  char buf[32];
  if (n >= 1000000000) std::snprintf(buf, sizeof buf, "%.3f B", double(n) / 1e9);
  else if (n >= 1000000) std::snprintf(buf, sizeof buf, "%.3f M", double(n) / 1e6);
  else std::snprintf(buf, sizeof buf, "%lld", (long long)n);
  return buf;
}

}  // namespace gq::cli
