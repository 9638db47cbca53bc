// A float as text for messages and metadata: "%.9g", enough digits to read back the same float.
#pragma once
#include <string>

namespace gq {

std::string format_float(float v);

}  // namespace gq
