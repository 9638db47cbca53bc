#include <cerrno>
#include <cstdlib>

#include "cli/commands.h"
#include "io/error.h"

namespace gq::cli {

std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> ids;
  size_t i = 0;
  while (i <= text.size()) {
    const size_t j = std::min(text.find(',', i), text.size());
    const std::string tok = text.substr(i, j - i);
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(tok.c_str(), &end, 10);
    if (tok.empty() || *end != '\0' || errno == ERANGE || v < 0)
      throw FormatError("--ids: '" + tok + "' is not a non-negative integer token id (expected e.g. 2,17,5)");
    ids.push_back(v);
    i = j + 1;
  }
  return ids;
}

}  // namespace gq::cli
