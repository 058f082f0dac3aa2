#pragma once
// UTF-8 helpers shared by the tokenizer, the chat templates and the server.
#include <cstddef>
#include <string>
#include <string_view>

namespace pagellm {

// Appends the UTF-8 encoding of one code point.
void append_utf8(std::string& out, char32_t cp);
// Code points in well-formed UTF-8 (continuation bytes are not counted).
size_t utf8_length(std::string_view s);

}  // namespace pagellm
