#pragma once

// The protobuf JSON mapping of the API's answers, written by reflection
// straight from the message. protobuf's own printer (util::MessageToJsonString)
// goes through the binary form and a type resolver, and was most of an HTTP
// lookup's cost (docs/http.md, "Cost"); this writes the same JSON, as its
// test checks field by field against protobuf's printer and parser.

#include <google/protobuf/message.h>

#include <string>
#include <string_view>

namespace crm {

// Appends `message` as JSON to `out`: lowerCamelCase names (json_name),
// enums by name (by number when unknown), 64-bit integers as strings,
// doubles and floats in their shortest exact form ("NaN", "Infinity" and
// "-Infinity" as strings), bytes in base64, google.protobuf.Timestamp and
// Duration as RFC 3339 and "1.5s". Every field is written, at its zero value
// too (protobuf's always_print_primitive_fields), but a field with presence
// (a message, a proto3 `optional`) that is unset. Other well-known types are
// left to protobuf's printer.
void AppendJson(const google::protobuf::Message& message, std::string& out);

// Appends `text` as a JSON string: quoted, with '"', '\\' and control
// characters escaped, and U+2028 and U+2029 (line ends to JavaScript).
// REQUIRES: `text` is UTF-8.
void AppendJsonString(std::string_view text, std::string& out);

// AppendJson into a new string.
std::string ToJson(const google::protobuf::Message& message);

}  // namespace crm
