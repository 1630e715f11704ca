#include "core/bounded_text.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "core/check.h"

namespace crm {
namespace {

// Appends the escaped form of the character at the start of `text` to `out`;
// returns how many bytes of `text` it took.
std::size_t AppendEscaped(std::string_view text, std::string& out) {
  const std::size_t length = Utf8Length(text);
  const auto c = static_cast<unsigned char>(text.front());
  if (length == 0 || c < 0x20 || c == 0x7f) {
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {
        char escaped[5];
        std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
        out += escaped;
      }
    }
    return 1;
  }
  if (c == '\\') {
    out += "\\\\";
    return 1;
  }
  if (length > 1) {
    if (const char32_t code = Utf8CodePoint(text, length); IsUnprintable(code)) {
      char escaped[7];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(code));
      out += escaped;
      return length;
    }
  }
  out.append(text.substr(0, length));
  return length;
}

}  // namespace

std::size_t Utf8Length(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  std::size_t length = 0;
  std::uint32_t min = 0;
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2, min = 0x80;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3, min = 0x800;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4, min = 0x10000;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  std::uint32_t code = lead & (0x7f >> length);
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
    code = (code << 6) | (byte(i) & 0x3f);
  }
  if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
  return length;
}

char32_t Utf8CodePoint(std::string_view text, std::size_t length) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  if (length == 1) return byte(0);
  char32_t code = byte(0) & (0x7F >> length);
  for (std::size_t i = 1; i < length; ++i) code = code << 6 | (byte(i) & 0x3F);
  return code;
}

bool IsUnprintable(char32_t code) {
  return code < 0x20 || (code >= 0x7F && code <= 0x9F) || code == 0x2028 || code == 0x2029 ||
         code == 0x200E || code == 0x200F || (code >= 0x202A && code <= 0x202E) ||
         (code >= 0x2066 && code <= 0x2069);
}

bool IsPrintable(std::string_view text) {
  while (!text.empty()) {
    const std::size_t length = Utf8Length(text);
    if (length == 0 || IsUnprintable(Utf8CodePoint(text, length))) return false;
    text.remove_prefix(length);
  }
  return true;
}

bool IsUtf8(std::string_view text) {
  while (!text.empty()) {
    const std::size_t length = Utf8Length(text);
    if (length == 0) return false;
    text.remove_prefix(length);
  }
  return true;
}

std::string BoundedText(std::string_view text, std::size_t max_bytes) {
  CRM_CHECK(max_bytes >= 64);
  const std::string marker = "...[cut, " + std::to_string(text.size()) + " bytes]";
  const std::size_t keep = max_bytes - marker.size();  // when cut
  std::string out;
  out.reserve(std::min(max_bytes, text.size() + 16));
  std::size_t kept = std::string::npos;  // the length of `out` to keep when cut
  while (!text.empty()) {
    const std::size_t before = out.size();
    text.remove_prefix(AppendEscaped(text, out));
    if (out.size() > keep && kept == std::string::npos) kept = before;
    if (out.size() > max_bytes) {
      out.resize(kept);
      return out + marker;
    }
  }
  return out;
}

}  // namespace crm
