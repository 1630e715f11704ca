#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace crm {

// The length of the well-formed UTF-8 sequence at the start of `text` (no
// overlong form, no surrogate, nothing above U+10FFFF); 0 when there is
// none. REQUIRES: `text` is not empty.
std::size_t Utf8Length(std::string_view text);

// Whether all of `text` is well-formed UTF-8.
bool IsUtf8(std::string_view text);

// The code point of the well-formed sequence of `length` bytes (Utf8Length)
// at the start of `text`.
char32_t Utf8CodePoint(std::string_view text, std::size_t length);

// Whether `code` is what a terminal or a log viewer acts on rather than
// shows: a control character (C0, DEL, C1), the line and paragraph
// separators (U+2028, U+2029), a bidi control (U+200E, U+200F,
// U+202A-U+202E, U+2066-U+2069).
bool IsUnprintable(char32_t code);

// Whether `text` is well-formed UTF-8 free of what IsUnprintable refuses.
bool IsPrintable(std::string_view text);

// `text` made safe to store, log or echo whatever it holds: one line of
// printable text no longer than `max_bytes`.
//  - A backslash is doubled; newline, carriage return and tab become `\n`,
//    `\r`, `\t`; any other control character (below 0x20, and 0x7f: ESC
//    included) and every byte not part of valid UTF-8 becomes `\xHH`; the
//    other characters IsUnprintable refuses (C1, separators, bidi controls)
//    become `\uHHHH`. Other valid UTF-8 above ASCII is kept as it is.
//  - When the escaped text is longer than `max_bytes`, it is cut at a
//    character boundary (never inside an escape or a UTF-8 sequence) and ends
//    with "...[cut, N bytes]", N the length of `text`; the result, marker
//    included, is at most `max_bytes` long.
// Reads at most about `max_bytes` characters of `text`, however long it is.
// REQUIRES: max_bytes >= 64 (room for the marker).
std::string BoundedText(std::string_view text, std::size_t max_bytes);

}  // namespace crm
