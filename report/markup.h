// Text inside HTML and SVG: every character that could end a text node or an attribute escaped.
#pragma once
#include <string>

namespace gq::report {

// & < > " ' as entities; everything else (UTF-8 included) as it is.
std::string escape_markup(const std::string& text);

}  // namespace gq::report
