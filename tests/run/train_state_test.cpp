// train_state.json round-trips, and every way it can be wrong is an error naming the file.
#include "run/train_state.h"

#include <gtest/gtest.h>

#include "io/error.h"
#include "tests/common/test_util.h"

namespace gq::run_folder {
namespace {

using test::TempDir;
using test::write_file;

std::string error_reading(const std::string& dir) {
  try {
    read_train_state(dir);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

TEST(TrainState, RoundTrips) {
  TempDir d;
  TrainState st;
  st.step = 10;
  st.samples_seen = 80;
  st.fake_quant_on = true;
  st.options = {{"lr", 0.001}, {"freeze", {"embed.*"}}};
  st.tokenizer = "tokenizer.model";
  st.args = {{"model", "hf"}, {"data", "corpus.txt"}};
  write_train_state(d.path().string(), st);
  const TrainState back = read_train_state(d.path().string());
  EXPECT_EQ(back.step, 10);
  EXPECT_EQ(back.samples_seen, 80);
  EXPECT_TRUE(back.fake_quant_on);
  EXPECT_EQ(back.options, st.options);
  EXPECT_EQ(back.tokenizer, "tokenizer.model");
  EXPECT_EQ(back.args, st.args);
  EXPECT_NE(test::read_file(d.path() / "train_state.json").find("\"format\": \"gemma-qat-run/1\""), std::string::npos);
}

TEST(TrainState, ErrorsNameTheFile) {
  TempDir d;
  const std::string file = d.file("train_state.json");
  EXPECT_EQ(error_reading(d.path().string()).rfind(file + ": cannot open", 0), 0u) << error_reading(d.path().string());
  write_file(file, "{\"format\": ");
  EXPECT_EQ(error_reading(d.path().string()).rfind(file + ": malformed", 0), 0u) << error_reading(d.path().string());
  write_file(file, R"({"format": "something-else", "step": 1})");
  EXPECT_EQ(error_reading(d.path().string()), file + ": not a gemma-qat run state");
  write_file(file, R"({"format": "gemma-qat-run/1", "step": 1, "samples_seen": 8, "fake_quant_on": false, "args": {}})");
  const std::string missing = error_reading(d.path().string());
  EXPECT_EQ(missing.rfind(file + ": ", 0), 0u) << missing;
  EXPECT_NE(missing.find("options"), std::string::npos) << missing;
}

TEST(TrainState, ATokenizerIsOptional) {
  TempDir d;
  write_file(d.path() / "train_state.json",
             R"({"format": "gemma-qat-run/1", "step": 1, "samples_seen": 8, "fake_quant_on": false, "options": {}, "args": {}})");
  EXPECT_EQ(read_train_state(d.path().string()).tokenizer, "");
}

}  // namespace
}  // namespace gq::run_folder
