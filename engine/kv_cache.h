// The keys and values one attention layer has computed, for consecutive positions. Rows are
// appended as tokens arrive; a sliding-window layer drops the rows no later query can see, so its
// cache never holds more than its window.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/ops.h"

namespace gq::engine {

class LayerKV {
 public:
  using ConstMap = Eigen::Map<const Matrix>;

  int64_t rows() const { return width_ ? int64_t(k_.size()) / width_ : 0; }
  int64_t first_position() const { return first_; }  // the position of row 0
  int64_t end_position() const { return first_ + rows(); }
  ConstMap k() const { return ConstMap(k_.data(), rows(), width_); }
  ConstMap v() const { return ConstMap(v_.data(), rows(), width_); }

  // Rows k and v [T, width] at positions end_position().. (std::vector growth: no copy of what is
  // held on most appends).
  void append(const Matrix& k, const Matrix& v);
  // Drops all but the last n rows (no-op when n <= 0 or fewer are held).
  void keep_last(int64_t n);

 private:
  std::vector<float> k_, v_;
  int64_t width_ = 0, first_ = 0;
};

}  // namespace gq::engine
