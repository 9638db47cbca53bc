#include "run/train_state.h"

#include "io/error.h"
#include "io/text_file.h"
#include "run/run_folder.h"

namespace gq::run_folder {

using nlohmann::json;

TrainState read_train_state(const std::string& checkpoint_dir) {
  const std::string path = file_in(checkpoint_dir, kTrainState);
  json j;
  try {
    j = json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    throw FormatError(path + ": malformed: " + e.what());
  }
  if (!j.is_object() || j.value("format", "") != kTrainStateFormat) throw FormatError(path + ": not a gemma-qat run state");
  TrainState st;
  try {
    st.step = j.at("step");
    st.samples_seen = j.at("samples_seen");
    st.fake_quant_on = j.at("fake_quant_on");
    st.options = j.at("options");
    st.tokenizer = j.value("tokenizer", "");
    st.args = j.at("args");
  } catch (const json::exception& e) {
    throw FormatError(path + ": " + e.what());
  }
  return st;
}

void write_train_state(const std::string& checkpoint_dir, const TrainState& st) {
  const json j = {{"format", kTrainStateFormat}, {"step", st.step},       {"samples_seen", st.samples_seen},
                  {"fake_quant_on", st.fake_quant_on}, {"options", st.options}, {"tokenizer", st.tokenizer},
                  {"args", st.args}};
  write_text_file(file_in(checkpoint_dir, kTrainState), j.dump(2) + "\n");
}

}  // namespace gq::run_folder
