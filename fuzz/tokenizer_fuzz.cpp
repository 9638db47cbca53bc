// tokenizer.json: HfTokenizer::load on the input bytes, then a short text with a special token,
// a space run, a newline and a byte-fallback character encoded and decoded again.
#include "fuzz/fuzz_util.h"
#include "io/error.h"
#include "text/hf_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = gq::fuzz::write_input("tokenizer.json", data, size);
  try {
    const auto tok = gq::HfTokenizer::load(path);
    const auto ids = tok->encode("<start_of_turn>hello  world\n\xC3\xA9!", true);
    (void)tok->decode(ids);
    if (tok->vocab_size() > 0) (void)tok->piece(tok->vocab_size() - 1);
    (void)tok->describe();
  } catch (const gq::FormatError&) {
  }
  return 0;
}
