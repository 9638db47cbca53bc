#include "io/format_float.h"

#include <cstdio>

namespace gq {

std::string format_float(float v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.9g", double(v));
  return buf;
}

}  // namespace gq
