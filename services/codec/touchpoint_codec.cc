#include "services/codec/touchpoint_codec.h"

#include <google/protobuf/util/json_util.h>

#include <string>

namespace crm {
namespace {

// google.protobuf.Timestamp's valid range: 0001-01-01 to 9999-12-31.
constexpr std::int64_t kMinProtoSeconds = -62135596800LL;
constexpr std::int64_t kMaxProtoSeconds = 253402300799LL;

bool LooksLikeJson(std::string_view value) {
  for (char c : value) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    return c == '{';
  }
  return false;
}

Rejection Malformed(std::string_view detail) { return {RejectReason::kMalformed, detail}; }

}  // namespace

Timestamp FromProtoTime(const google::protobuf::Timestamp& time) {
  return FromMicros(time.seconds() * 1'000'000 + time.nanos() / 1'000);
}

void ToProtoTime(Timestamp time, google::protobuf::Timestamp* out) {
  const std::int64_t micros = ToMicros(time);
  std::int64_t seconds = micros / 1'000'000;
  std::int64_t rest = micros % 1'000'000;
  if (rest < 0) {
    rest += 1'000'000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<std::int32_t>(rest * 1'000));
}

std::variant<Touchpoint, Rejection> FromProto(const v1::Touchpoint& message) {
  if (!v1::Channel_IsValid(message.channel())) {
    return Rejection{RejectReason::kUnknownEnum,
                     "unknown channel " + std::to_string(message.channel())};
  }
  if (!v1::TouchpointType_IsValid(message.type())) {
    return Rejection{RejectReason::kUnknownEnum, "unknown type " + std::to_string(message.type())};
  }
  if (!message.has_occurred_at()) {
    return Rejection{RejectReason::kBadTimestamp, "occurred_at is missing"};
  }
  const auto& at = message.occurred_at();
  if (at.seconds() < kMinProtoSeconds || at.seconds() > kMaxProtoSeconds || at.nanos() < 0 ||
      at.nanos() > 999'999'999) {
    return Rejection{RejectReason::kBadTimestamp, "occurred_at outside the Timestamp range"};
  }

  Touchpoint tp;
  tp.event_id = message.event_id();
  tp.customer_id = CustomerId(message.customer_id());
  tp.occurred_at = FromProtoTime(at);
  tp.channel = static_cast<Channel>(message.channel());
  tp.type = static_cast<TouchpointType>(message.type());
  tp.amount = message.amount();
  tp.product = message.product();
  if (message.has_satisfaction()) tp.satisfaction = message.satisfaction();
  if (message.has_consent_granted()) tp.consent_granted = message.consent_granted();
  tp.attributes.insert(message.attributes().begin(), message.attributes().end());
  tp.campaign_id = message.campaign_id();
  tp.held_out = message.held_out();
  return tp;
}

void ToProto(const Touchpoint& tp, v1::Touchpoint* message) {
  message->set_event_id(tp.event_id);
  message->set_customer_id(tp.customer_id.value());
  ToProtoTime(tp.occurred_at, message->mutable_occurred_at());
  message->set_channel(static_cast<v1::Channel>(tp.channel));
  message->set_type(static_cast<v1::TouchpointType>(tp.type));
  message->set_amount(tp.amount);
  message->set_product(tp.product);
  if (tp.satisfaction) message->set_satisfaction(*tp.satisfaction);
  if (tp.consent_granted) message->set_consent_granted(*tp.consent_granted);
  for (const auto& [key, value] : tp.attributes) (*message->mutable_attributes())[key] = value;
  message->set_campaign_id(tp.campaign_id);
  message->set_held_out(tp.held_out);
}

std::variant<Touchpoint, Rejection> DecodeTouchpoint(std::string_view value,
                                                     std::string_view content_type) {
  if (value.size() > kMaxTouchpointRecordBytes) {
    return Rejection{RejectReason::kOversized, "record larger than 1 MiB"};
  }
  v1::Touchpoint message;
  if (content_type == "application/json" || LooksLikeJson(value)) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    const auto status = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(value.data(), value.size()), &message, options);
    if (!status.ok()) return Malformed("invalid JSON touchpoint: " + status.ToString());
  } else if (!message.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return Malformed("invalid protobuf touchpoint");
  }
  return FromProto(message);
}

}  // namespace crm
