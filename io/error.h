// The one exception type for malformed or unsupported input. Messages name the file, tensor or key
// so that the CLI can print them as a single line.
#pragma once
#include <stdexcept>
#include <string>

namespace gq {

class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace gq
