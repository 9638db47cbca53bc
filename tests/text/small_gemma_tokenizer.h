// A small tokenizer.json shaped like Gemma's, shared by the tokenizer tests and the fuzz seeds
// (fuzz/make_seeds.cpp) so the fuzzer starts from the file the tests pin down.
#pragma once
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace gq::test {

// A tokenizer.json shaped like Gemma's: ids 0-3 pad/eos/bos/unk, 4 <start_of_turn>, 5-6 "\n"/"\n\n"
// (added, not special), 7-262 <0x00>..<0xFF>, then characters and merges.
inline nlohmann::json small_gemma_like() {
  using nlohmann::json;
  json vocab = json::object();
  int id = 0;
  for (const char* p : {"<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "\n", "\n\n"}) vocab[p] = id++;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = id++;
  }
  // 263.. : characters, then merge results.
  for (const char* p : {"\xE2\x96\x81", "h", "e", "l", "o", "w", "r", "d", "ll", "he", "hell", "hello",
                        "\xE2\x96\x81w", "or", "\xE2\x96\x81wor", "\xE2\x96\x81worl", "\xE2\x96\x81world", "\xE2\x96\x81\xE2\x96\x81"})
    vocab[p] = id++;
  const std::string sp = "\xE2\x96\x81";
  json merges = json::array({{"l", "l"}, {"h", "e"}, {"he", "ll"}, {"hell", "o"}, {sp, "w"}, {"o", "r"}, {sp + "w", "or"},
                             {sp + "wor", "l"}, {sp + "worl", "d"}, {sp, sp}});
  auto added = [](int i, const char* c, bool special) {
    return json{{"id", i}, {"content", c}, {"single_word", false}, {"lstrip", false}, {"rstrip", false}, {"normalized", false}, {"special", special}};
  };
  return json{
      {"version", "1.0"},
      {"added_tokens", json::array({added(0, "<pad>", true), added(1, "<eos>", true), added(2, "<bos>", true), added(3, "<unk>", true),
                                    added(4, "<start_of_turn>", true), added(5, "\n", false), added(6, "\n\n", false)})},
      {"normalizer", {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", sp}}},
      {"pre_tokenizer", {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "MergedWithPrevious"}, {"invert", false}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", json::array({{{"SpecialToken", {{"id", "<bos>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
        {"pair", json::array()},
        {"special_tokens", {{"<bos>", {{"id", "<bos>"}, {"ids", {2}}, {"tokens", {"<bos>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", sp}}}, {"content", " "}},
                                  {{"type", "ByteFallback"}},
                                  {{"type", "Fuse"}}})}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", "<unk>"}, {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr}, {"fuse_unk", true}, {"byte_fallback", true}, {"ignore_merges", false},
        {"vocab", vocab}, {"merges", merges}}}};
}

}  // namespace gq::test
