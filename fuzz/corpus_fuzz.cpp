// Corpus files: read_documents on one file whose kind the first input byte picks (plain text,
// .jsonl or .ids), the rest of the input being its contents.
#include "fuzz/fuzz_util.h"
#include "io/error.h"
#include "text/corpus.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* const kNames[] = {"corpus.txt", "corpus.jsonl", "corpus.ids"};
  const std::string path = gq::fuzz::write_input(kNames[data[0] % 3], data + 1, size - 1);
  try {
    for (const gq::Document& d : gq::read_documents(path)) (void)d.text.size();
  } catch (const gq::FormatError&) {
  }
  return 0;
}
