// Whole small text files (configs, recipes, run state, JSON) in and out: one reader with a clear
// error naming the file, one atomic writer.
#pragma once
#include <string>

namespace gq {

std::string read_text_file(const std::string& path);                    // FormatError "<path>: cannot open"
void write_text_file(const std::string& path, const std::string& text);  // temporary name, then rename

}  // namespace gq
