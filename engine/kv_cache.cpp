#include "engine/kv_cache.h"

#include "io/error.h"

namespace gq::engine {

void LayerKV::append(const Matrix& k, const Matrix& v) {
  if (width_ == 0) width_ = k.cols();
  if (k.cols() != width_ || v.cols() != width_ || v.rows() != k.rows())
    throw FormatError("KV cache: appended K [" + std::to_string(k.rows()) + ", " + std::to_string(k.cols()) + "] / V [" +
                      std::to_string(v.rows()) + ", " + std::to_string(v.cols()) + "] do not match width " +
                      std::to_string(width_));
  // Row-major matrices: their storage is the rows in order.
  k_.insert(k_.end(), k.data(), k.data() + k.size());
  v_.insert(v_.end(), v.data(), v.data() + v.size());
}

void LayerKV::keep_last(int64_t n) {
  const int64_t drop = rows() - n;
  if (n <= 0 || drop <= 0) return;
  k_.erase(k_.begin(), k_.begin() + drop * width_);
  v_.erase(v_.begin(), v_.begin() + drop * width_);
  first_ += drop;
}

}  // namespace gq::engine
