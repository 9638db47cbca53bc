// Calibration file (`gemma-qat calibrate`'s JSON): Calibration::load on the input bytes.
#include "fuzz/fuzz_util.h"
#include "io/error.h"
#include "recipes/calibration.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = gq::fuzz::write_input("calibration.json", data, size);
  try {
    (void)gq::Calibration::load(path);
  } catch (const gq::FormatError&) {
  }
  return 0;
}
