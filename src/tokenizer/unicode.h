#pragma once
// UTF-8 and Unicode helpers shared by the tokenizer pipeline (no allocation per character).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/utf8.h"

namespace pagellm::tok {

// Length of the UTF-8 sequence starting with lead byte `c` (1 for invalid lead bytes so that
// callers always make progress).
inline size_t utf8_len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 1;
}

// Decodes the code point at s[i] and advances i; invalid sequences yield U+FFFD and advance by
// the maximal invalid subpart (as Rust's from_utf8_lossy and WHATWG do).
char32_t next_code_point(std::string_view s, size_t& i);
using pagellm::append_utf8;

// Length of a valid UTF-8 sequence at s[i], or 0 if the bytes there are not one.
size_t valid_utf8_at(std::string_view s, size_t i);
bool is_valid_utf8(std::string_view s);
// Replaces each maximal invalid subpart with U+FFFD (Rust String::from_utf8_lossy).
std::string utf8_lossy(std::string_view s);
// Number of bytes at the end of s that form an incomplete (but so far valid) UTF-8 prefix.
size_t incomplete_utf8_tail(std::string_view s);

// Unicode properties as Rust's char methods define them.
bool is_whitespace(char32_t cp);
bool is_alphanumeric(char32_t cp);
// Unicode regex \w (letters, marks, decimal digits, connector punctuation, joiners).
bool is_word_char(char32_t cp);

// GPT-2's reversible byte <-> printable code point map used by ByteLevel.
const std::array<char32_t, 256>& byte_to_code_point();
// Inverse map: -1 when the code point is not one of the 256.
int code_point_to_byte(char32_t cp);

}  // namespace pagellm::tok
