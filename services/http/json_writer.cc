#include "services/http/json_writer.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <charconv>
#include <cmath>
#include <cstdio>

namespace crm {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

void AppendString(std::string_view text, std::string& out) { AppendJsonString(text, out); }

}  // namespace

void AppendJsonString(std::string_view text, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else if (c == 0xe2 && i + 2 < text.size() &&
                   static_cast<unsigned char>(text[i + 1]) == 0x80 &&
                   (static_cast<unsigned char>(text[i + 2]) == 0xa8 ||
                    static_cast<unsigned char>(text[i + 2]) == 0xa9)) {
          // U+2028 and U+2029 end a line in JavaScript: escaped for scripts.
          out += static_cast<unsigned char>(text[i + 2]) == 0xa8 ? "\\u2028" : "\\u2029";
          i += 2;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

namespace {

template <typename Float>
void AppendFloat(Float value, std::string& out) {
  if (std::isnan(value)) {
    out += "\"NaN\"";
  } else if (std::isinf(value)) {
    out += value > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else {
    char buffer[32];
    const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
    out.append(buffer, result.ptr);
  }
}

void AppendBase64(const std::string& bytes, std::string& out) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out += '"';
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t n = (static_cast<unsigned char>(bytes[i]) << 16) |
                            (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                            static_cast<unsigned char>(bytes[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out += kAlphabet[(n >> shift) & 63];
  }
  if (i < bytes.size()) {
    std::uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  out += '"';
}

template <typename Integer>
void AppendInteger(Integer value, bool quoted, std::string& out) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (quoted) out += '"';
  out.append(buffer, result.ptr);
  if (quoted) out += '"';
}

void AppendMessage(const Message& message, std::string& out);

// One value of `field` (the `index`th when repeated, else -1).
void AppendValue(const Message& message, const FieldDescriptor* field, int index,
                 std::string& out) {
  const Reflection* r = message.GetReflection();
  const bool repeated = index >= 0;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      AppendInteger(
          repeated ? r->GetRepeatedInt32(message, field, index) : r->GetInt32(message, field),
          false, out);
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      AppendInteger(
          repeated ? r->GetRepeatedUInt32(message, field, index) : r->GetUInt32(message, field),
          false, out);
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      AppendInteger(
          repeated ? r->GetRepeatedInt64(message, field, index) : r->GetInt64(message, field), true,
          out);
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      AppendInteger(
          repeated ? r->GetRepeatedUInt64(message, field, index) : r->GetUInt64(message, field),
          true, out);
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      AppendFloat(
          repeated ? r->GetRepeatedDouble(message, field, index) : r->GetDouble(message, field),
          out);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      AppendFloat(
          repeated ? r->GetRepeatedFloat(message, field, index) : r->GetFloat(message, field), out);
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out += (repeated ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field))
                 ? "true"
                 : "false";
      break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int number = repeated ? r->GetRepeatedEnumValue(message, field, index)
                                  : r->GetEnumValue(message, field);
      if (const auto* value = field->enum_type()->FindValueByNumber(number)) {
        AppendString(value->name(), out);
      } else {
        AppendInteger(number, false, out);
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& text = repeated
                                    ? r->GetRepeatedStringReference(message, field, index, &scratch)
                                    : r->GetStringReference(message, field, &scratch);
      if (field->type() == FieldDescriptor::TYPE_BYTES) {
        AppendBase64(text, out);
      } else {
        AppendString(text, out);
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      AppendMessage(
          repeated ? r->GetRepeatedMessage(message, field, index) : r->GetMessage(message, field),
          out);
      break;
  }
}

// A map's entries as an object, each key as a string.
void AppendMap(const Message& message, const FieldDescriptor* field, std::string& out) {
  const Reflection* r = message.GetReflection();
  const FieldDescriptor* key = field->message_type()->map_key();
  const FieldDescriptor* value = field->message_type()->map_value();
  out += '{';
  const int size = r->FieldSize(message, field);
  for (int i = 0; i < size; ++i) {
    const Message& entry = r->GetRepeatedMessage(message, field, i);
    if (i > 0) out += ',';
    if (key->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      AppendValue(entry, key, -1, out);
    } else {
      std::string number;
      AppendValue(entry, key, -1, number);
      if (number.starts_with('"')) {
        out += number;
      } else {
        out.append(1, '"').append(number).append(1, '"');
      }
    }
    out += ':';
    AppendValue(entry, value, -1, out);
  }
  out += '}';
}

void AppendMessage(const Message& message, std::string& out) {
  const Descriptor* type = message.GetDescriptor();
  if (type->full_name() == "google.protobuf.Timestamp") {
    AppendString(google::protobuf::util::TimeUtil::ToString(
                     static_cast<const google::protobuf::Timestamp&>(message)),
                 out);
    return;
  }
  if (type->full_name() == "google.protobuf.Duration") {
    AppendString(google::protobuf::util::TimeUtil::ToString(
                     static_cast<const google::protobuf::Duration&>(message)),
                 out);
    return;
  }
  if (type->file()->package() == "google.protobuf") {  // Struct, Value, Any…
    std::string json;
    if (google::protobuf::util::MessageToJsonString(message, &json).ok()) {
      out += json;
    } else {
      out += "null";
    }
    return;
  }
  const Reflection* r = message.GetReflection();
  out += '{';
  bool first = true;
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    if (field->has_presence() && !r->HasField(message, field)) continue;
    if (!first) out += ',';
    first = false;
    AppendString(field->json_name(), out);
    out += ':';
    if (field->is_map()) {
      AppendMap(message, field, out);
    } else if (field->is_repeated()) {
      out += '[';
      const int size = r->FieldSize(message, field);
      for (int j = 0; j < size; ++j) {
        if (j > 0) out += ',';
        AppendValue(message, field, j, out);
      }
      out += ']';
    } else {
      AppendValue(message, field, -1, out);
    }
  }
  out += '}';
}

}  // namespace

void AppendJson(const Message& message, std::string& out) { AppendMessage(message, out); }

std::string ToJson(const Message& message) {
  std::string out;
  out.reserve(1024);
  AppendMessage(message, out);
  return out;
}

}  // namespace crm
