#include "services/codec/touchpoint_codec.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/time.h"
#include "core/touchpoint.h"
#include "core/validation.h"
#include "crm/v1/touchpoint.pb.h"

namespace crm {
namespace {

constexpr std::int64_t kSeconds = 1767225600;  // 2026-01-01T00:00:00Z

v1::Touchpoint ValidMessage() {
  v1::Touchpoint m;
  m.set_event_id("e1");
  m.set_customer_id("c1");
  m.mutable_occurred_at()->set_seconds(kSeconds);
  m.mutable_occurred_at()->set_nanos(123000);
  m.set_channel(v1::KIOSK);
  m.set_type(v1::PURCHASE);
  m.set_amount(19.99);
  m.set_product("TV");
  m.set_satisfaction(0);
  (*m.mutable_attributes())["k"] = "v";
  return m;
}

std::string Json(const v1::Touchpoint& message) {
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(message, &json).ok());
  return json;
}

std::optional<RejectReason> ReasonOf(const std::variant<Touchpoint, Rejection>& decoded) {
  if (const auto* rejection = std::get_if<Rejection>(&decoded)) return rejection->reason;
  return std::nullopt;
}

// The fields of ValidMessage(), decoded.
void ExpectValidTouchpoint(const std::variant<Touchpoint, Rejection>& decoded) {
  ASSERT_TRUE(std::holds_alternative<Touchpoint>(decoded)) << std::get<Rejection>(decoded).detail();
  const Touchpoint& tp = std::get<Touchpoint>(decoded);
  EXPECT_EQ(tp.event_id, "e1");
  EXPECT_EQ(tp.customer_id, CustomerId("c1"));
  EXPECT_EQ(ToMicros(tp.occurred_at), kSeconds * 1'000'000 + 123);
  EXPECT_EQ(tp.channel, Channel::kKiosk);
  EXPECT_EQ(tp.type, TouchpointType::kPurchase);
  EXPECT_DOUBLE_EQ(tp.amount, 19.99);
  EXPECT_EQ(tp.product, "TV");
  EXPECT_EQ(tp.satisfaction, 0);  // presence kept for a zero
  EXPECT_FALSE(tp.consent_granted.has_value());
  EXPECT_EQ(tp.attributes, (std::map<std::string, std::string>{{"k", "v"}}));
}

TEST(TouchpointCodecTest, DecodesProtobufBinary) {
  ExpectValidTouchpoint(DecodeTouchpoint(ValidMessage().SerializeAsString(), ""));
  // A binary record under another content type is still binary.
  ExpectValidTouchpoint(
      DecodeTouchpoint(ValidMessage().SerializeAsString(), "application/x-protobuf"));
}

TEST(TouchpointCodecTest, DecodesJsonWhenTheContentTypeSaysSo) {
  ExpectValidTouchpoint(DecodeTouchpoint(Json(ValidMessage()), "application/json"));
}

TEST(TouchpointCodecTest, DetectsJsonByALeadingBrace) {
  const std::string json = Json(ValidMessage());
  ASSERT_EQ(json.front(), '{');
  ExpectValidTouchpoint(DecodeTouchpoint(json, ""));
  ExpectValidTouchpoint(DecodeTouchpoint(" \t\r\n" + json, ""));
}

TEST(TouchpointCodecTest, DecodesTheContractsJsonWithProtoFieldNames) {
  const std::string json = R"({
    "event_id": "e1", "customer_id": "c1", "occurred_at": "2026-01-01T00:00:00.000123Z",
    "channel": "KIOSK", "type": "PURCHASE", "amount": 19.99, "product": "TV",
    "satisfaction": 0, "attributes": {"k": "v"}
  })";
  ExpectValidTouchpoint(DecodeTouchpoint(json, ""));
}

TEST(TouchpointCodecTest, MalformedJsonIsMalformed) {
  EXPECT_EQ(ReasonOf(DecodeTouchpoint("{\"event_id\": ", "")), RejectReason::kMalformed);
  EXPECT_EQ(ReasonOf(DecodeTouchpoint("{\"no_such_field\": 1}", "")), RejectReason::kMalformed);
  EXPECT_EQ(ReasonOf(DecodeTouchpoint("{\"amount\": \"lots\"}", "")), RejectReason::kMalformed);
  EXPECT_EQ(ReasonOf(DecodeTouchpoint("[1]", "application/json")), RejectReason::kMalformed);
  EXPECT_EQ(ReasonOf(DecodeTouchpoint("", "application/json")), RejectReason::kMalformed);
  // A binary record labelled JSON is parsed as JSON.
  EXPECT_EQ(ReasonOf(DecodeTouchpoint(ValidMessage().SerializeAsString(), "application/json")),
            RejectReason::kMalformed);
}

TEST(TouchpointCodecTest, MalformedProtobufIsMalformed) {
  EXPECT_EQ(ReasonOf(DecodeTouchpoint("\xff\xff\xff", "")), RejectReason::kMalformed);
  const std::string binary = ValidMessage().SerializeAsString();
  EXPECT_EQ(ReasonOf(DecodeTouchpoint(binary.substr(0, binary.size() - 3), "")),
            RejectReason::kMalformed);
}

TEST(TouchpointCodecTest, UnknownEnumValuesInBinaryAreUnknownEnum) {
  v1::Touchpoint unknown_channel = ValidMessage();
  unknown_channel.set_channel(static_cast<v1::Channel>(42));
  EXPECT_EQ(ReasonOf(DecodeTouchpoint(unknown_channel.SerializeAsString(), "")),
            RejectReason::kUnknownEnum);
  v1::Touchpoint unknown_type = ValidMessage();
  unknown_type.set_type(static_cast<v1::TouchpointType>(77));
  EXPECT_EQ(ReasonOf(DecodeTouchpoint(unknown_type.SerializeAsString(), "")),
            RejectReason::kUnknownEnum);
}

TEST(TouchpointCodecTest, UnknownEnumNameInJsonIsMalformed) {
  EXPECT_EQ(ReasonOf(DecodeTouchpoint(R"({"channel": "PIGEON"})", "")), RejectReason::kMalformed);
}

TEST(TouchpointCodecTest, MissingOrImpossibleTimestampIsBadTimestamp) {
  v1::Touchpoint no_time = ValidMessage();
  no_time.clear_occurred_at();
  EXPECT_EQ(ReasonOf(DecodeTouchpoint(no_time.SerializeAsString(), "")),
            RejectReason::kBadTimestamp);
  v1::Touchpoint far = ValidMessage();
  far.mutable_occurred_at()->set_seconds(1LL << 50);
  EXPECT_EQ(ReasonOf(DecodeTouchpoint(far.SerializeAsString(), "")), RejectReason::kBadTimestamp);
  v1::Touchpoint negative_nanos = ValidMessage();
  negative_nanos.mutable_occurred_at()->set_nanos(-1);
  EXPECT_EQ(ReasonOf(DecodeTouchpoint(negative_nanos.SerializeAsString(), "")),
            RejectReason::kBadTimestamp);
  v1::Touchpoint too_many_nanos = ValidMessage();
  too_many_nanos.mutable_occurred_at()->set_nanos(1'000'000'000);
  EXPECT_EQ(ReasonOf(DecodeTouchpoint(too_many_nanos.SerializeAsString(), "")),
            RejectReason::kBadTimestamp);
}

// A valid binary touchpoint of exactly `bytes` bytes.
std::string BinaryOfSize(std::size_t bytes) {
  v1::Touchpoint message = ValidMessage();
  std::size_t product = bytes - message.ByteSizeLong();
  for (int i = 0; i < 4; ++i) {  // the length prefix grows with the product
    message.set_product(std::string(product, 'x'));
    product -= message.ByteSizeLong() - bytes;
  }
  message.set_product(std::string(product, 'x'));
  std::string binary = message.SerializeAsString();
  EXPECT_EQ(binary.size(), bytes);
  return binary;
}

TEST(TouchpointCodecTest, RecordsOverOneMebibyteAreOversized) {
  ASSERT_EQ(kMaxTouchpointRecordBytes, 1u << 20);
  EXPECT_TRUE(std::holds_alternative<Touchpoint>(
      DecodeTouchpoint(BinaryOfSize(kMaxTouchpointRecordBytes), "")));
  EXPECT_EQ(ReasonOf(DecodeTouchpoint(BinaryOfSize(kMaxTouchpointRecordBytes + 1), "")),
            RejectReason::kOversized);
  // Checked before parsing, whatever the format.
  EXPECT_EQ(ReasonOf(DecodeTouchpoint(std::string(kMaxTouchpointRecordBytes + 1, '{'), "")),
            RejectReason::kOversized);
}

TEST(TouchpointCodecTest, ToProtoThenFromProtoRoundTrips) {
  Touchpoint tp;
  tp.event_id = "e7";
  tp.customer_id = CustomerId("c9");
  tp.occurred_at = FromMicros(-1'500'001);  // before the epoch: nanos stay non-negative
  tp.channel = Channel::kSms;
  tp.type = TouchpointType::kConsent;
  tp.amount = 0.5;
  tp.product = "NEWSLETTER";
  tp.satisfaction = 0;
  tp.consent_granted = false;
  tp.attributes = {{"a", "b"}, {"source", "web form"}};

  v1::Touchpoint message;
  ToProto(tp, &message);
  EXPECT_EQ(message.occurred_at().seconds(), -2);
  EXPECT_EQ(message.occurred_at().nanos(), 499'999'000);  // -2 s + 0.499999 s
  EXPECT_TRUE(message.has_satisfaction());
  EXPECT_TRUE(message.has_consent_granted());

  auto back = FromProto(message);
  ASSERT_TRUE(std::holds_alternative<Touchpoint>(back)) << std::get<Rejection>(back).detail();
  const Touchpoint& got = std::get<Touchpoint>(back);
  EXPECT_EQ(got.event_id, tp.event_id);
  EXPECT_EQ(got.customer_id, tp.customer_id);
  EXPECT_EQ(got.occurred_at, tp.occurred_at);
  EXPECT_EQ(got.channel, tp.channel);
  EXPECT_EQ(got.type, tp.type);
  EXPECT_EQ(got.amount, tp.amount);
  EXPECT_EQ(got.product, tp.product);
  EXPECT_EQ(got.satisfaction, tp.satisfaction);
  EXPECT_EQ(got.consent_granted, tp.consent_granted);
  EXPECT_EQ(got.attributes, tp.attributes);

  // And through the wire, both ways.
  ExpectValidTouchpoint(FromProto(ValidMessage()));
  v1::Touchpoint again;
  ToProto(std::get<Touchpoint>(FromProto(ValidMessage())), &again);
  EXPECT_EQ(again.SerializeAsString(), ValidMessage().SerializeAsString());
}

TEST(TouchpointCodecTest, AbsentOptionalsStayAbsent) {
  v1::Touchpoint message = ValidMessage();
  message.clear_satisfaction();
  auto decoded = FromProto(message);
  ASSERT_TRUE(std::holds_alternative<Touchpoint>(decoded));
  EXPECT_FALSE(std::get<Touchpoint>(decoded).satisfaction.has_value());
  EXPECT_FALSE(std::get<Touchpoint>(decoded).consent_granted.has_value());
  v1::Touchpoint out;
  ToProto(std::get<Touchpoint>(decoded), &out);
  EXPECT_FALSE(out.has_satisfaction());
  EXPECT_FALSE(out.has_consent_granted());
}

// The domain enums are cast to and from the proto's: numbers and names agree.
TEST(TouchpointCodecTest, DomainEnumsMatchTheWireContract) {
  for (int c = 0; c < kChannelCount; ++c) {
    ASSERT_TRUE(v1::Channel_IsValid(c)) << c;
    EXPECT_EQ(ChannelName(static_cast<Channel>(c)), v1::Channel_Name(static_cast<v1::Channel>(c)));
  }
  EXPECT_FALSE(v1::Channel_IsValid(kChannelCount));
  for (int t = 0; t < kTouchpointTypeCount; ++t) {
    ASSERT_TRUE(v1::TouchpointType_IsValid(t)) << t;
    EXPECT_EQ(TouchpointTypeName(static_cast<TouchpointType>(t)),
              v1::TouchpointType_Name(static_cast<v1::TouchpointType>(t)));
  }
  EXPECT_FALSE(v1::TouchpointType_IsValid(kTouchpointTypeCount));
}

TEST(TouchpointCodecTest, ProtoTimeConversionIsExactToTheMicrosecond) {
  const std::vector<std::int64_t> samples = {
      0, 1, -1, 999'999, -1'000'000, -1'000'001, kSeconds * 1'000'000 + 123'456};
  for (std::int64_t micros : samples) {
    google::protobuf::Timestamp proto;
    ToProtoTime(FromMicros(micros), &proto);
    EXPECT_GE(proto.nanos(), 0) << micros;
    EXPECT_LT(proto.nanos(), 1'000'000'000) << micros;
    EXPECT_EQ(ToMicros(FromProtoTime(proto)), micros);
  }
  google::protobuf::Timestamp sub_micro;
  sub_micro.set_seconds(1);
  sub_micro.set_nanos(1'999);  // nanoseconds below a microsecond are dropped
  EXPECT_EQ(ToMicros(FromProtoTime(sub_micro)), 1'000'001);
}

}  // namespace
}  // namespace crm
