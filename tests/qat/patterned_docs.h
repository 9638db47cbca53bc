// Learnable token sequences for training tests: each document counts up with a per-document
// stride (mod the vocabulary).
#pragma once
#include <cstdint>
#include <vector>

namespace gq::test {

inline std::vector<std::vector<int32_t>> patterned_docs(int n_docs, int len, int vocab) {
  std::vector<std::vector<int32_t>> docs;
  for (int d = 0; d < n_docs; ++d) {
    std::vector<int32_t> doc;
    for (int i = 0; i < len; ++i) doc.push_back(3 + (d * 7 + i * (1 + d % 5)) % (vocab - 3));
    docs.push_back(doc);
  }
  return docs;
}

}  // namespace gq::test
