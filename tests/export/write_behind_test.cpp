// WriteBehind (export/write_behind.h): the bytes arrive in order and complete whatever the mix of
// small and large appends, and a failing write comes back to the caller instead of being lost.
#include "export/write_behind.h"

#include <gtest/gtest.h>

#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace gq {
namespace {

TEST(WriteBehind, WritesEveryByteInOrder) {
  std::vector<uint8_t> file;
  size_t writes = 0;
  std::vector<uint8_t> want;
  {
    WriteBehind out([&](const uint8_t* p, size_t n) { file.insert(file.end(), p, p + n), ++writes; }, 1000);
    std::mt19937 rng(3);
    std::uniform_int_distribution<size_t> size(0, 3000);
    for (int i = 0; i < 200; ++i) {
      const size_t n = i % 7 == 0 ? 20000 : size(rng);  // below and above the 1000-byte batch
      uint8_t* p = out.append(n);
      for (size_t k = 0; k < n; ++k) p[k] = uint8_t(rng()), want.push_back(p[k]);
      out.flush();
    }
    out.finish();
  }
  EXPECT_EQ(file, want);
  EXPECT_GT(writes, 50u);   // batched, not one buffer at the end
  EXPECT_LT(writes, 200u);  // small appends were kept and appended to
}

TEST(WriteBehind, AWriteErrorReachesTheCaller) {
  WriteBehind out([](const uint8_t*, size_t) { throw std::runtime_error("disk full"); }, 1);
  std::string error;
  try {
    for (int i = 0; i < 3; ++i) {
      out.append(10)[0] = 1;
      out.flush();  // the second flush waits for the first write, which failed
    }
    out.finish();
  } catch (const std::runtime_error& e) {
    error = e.what();
  }
  EXPECT_EQ(error, "disk full");
}

}  // namespace
}  // namespace gq
