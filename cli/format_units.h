// Human-readable counts and sizes for CLI tables (decimal units, as model cards quote them).
#pragma once
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "io/error.h"

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

// A byte count as a person writes it: "950000000", "0.95GB", "512 MB", "1.5GiB" (decimal B, KB, MB,
// GB, TB as human_bytes prints them; binary KiB, MiB, GiB, TiB), rounded down to whole bytes.
// FormatError naming `what` (the option) for anything else.
inline int64_t parse_byte_size(const std::string& text, const std::string& what) {
  auto fail = [&]() -> int64_t {
    throw FormatError(what + ": expected a byte count like 950000000, 0.95GB, 512MB or 1.5GiB, got '" + text + "'");
  };
  const char* begin = text.c_str();
  char* end = nullptr;
  const double v = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(v) || v <= 0) return fail();
  std::string unit(end);
  unit.erase(0, unit.find_first_not_of(' '));
  static const std::pair<const char*, double> units[] = {{"", 1},          {"B", 1},           {"KB", 1e3},
                                                         {"MB", 1e6},      {"GB", 1e9},        {"TB", 1e12},
                                                         {"KiB", 1024.0},  {"MiB", 1048576.0}, {"GiB", 1073741824.0},
                                                         {"TiB", 1099511627776.0}};
  for (const auto& [name, scale] : units)
    if (unit == name) {
      const double bytes = std::floor(v * scale);
      if (bytes < 1 || bytes > 9.0e18) return fail();
      return int64_t(bytes);
    }
  return fail();
}

}  // namespace gq::cli
