#pragma once

#include <string_view>
#include <variant>

#include "core/touchpoint.h"
#include "core/validation.h"
#include "crm/v1/touchpoint.pb.h"

namespace crm {

// Records larger than this are rejected before parsing (kOversized).
inline constexpr std::size_t kMaxTouchpointRecordBytes = 1 << 20;

// Decodes the value of a record of the touchpoint topic: protobuf's JSON
// mapping when `content_type` is "application/json" or the value starts with
// '{' (after white space), protobuf binary otherwise. Returns the domain
// touchpoint, or the rejection saying why it cannot be read. Never throws.
std::variant<Touchpoint, Rejection> DecodeTouchpoint(std::string_view value,
                                                     std::string_view content_type);

// Converts a parsed message; rejects unknown enum values and malformed timestamps.
std::variant<Touchpoint, Rejection> FromProto(const v1::Touchpoint& message);

void ToProto(const Touchpoint& touchpoint, v1::Touchpoint* message);

// Timestamp conversion at the edge, shared by every codec.
Timestamp FromProtoTime(const google::protobuf::Timestamp& time);
void ToProtoTime(Timestamp time, google::protobuf::Timestamp* out);

}  // namespace crm
