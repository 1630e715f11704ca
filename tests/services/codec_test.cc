// The service's edge codecs: touchpoints from the wire, state to and from storage.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "services/codec/touchpoint_codec.h"
#include "services/storage/state_codec.h"
#include "tests/core/test_touchpoints.h"

namespace crm {
namespace {

using testing::Day;
using testing::MakeTouchpoint;
using Type = TouchpointType;

v1::Touchpoint ValidMessage() {
  v1::Touchpoint m;
  m.set_event_id("e1");
  m.set_customer_id("c1");
  m.mutable_occurred_at()->set_seconds(1767225600);
  m.mutable_occurred_at()->set_nanos(123000);
  m.set_channel(v1::KIOSK);
  m.set_type(v1::PURCHASE);
  m.set_amount(19.99);
  m.set_product("TV");
  m.set_satisfaction(0);
  (*m.mutable_attributes())["k"] = "v";
  return m;
}

TEST(TouchpointCodecTest, DecodesProtobufBinary) {
  auto decoded = DecodeTouchpoint(ValidMessage().SerializeAsString(), "");
  ASSERT_TRUE(std::holds_alternative<Touchpoint>(decoded));
  const Touchpoint& tp = std::get<Touchpoint>(decoded);
  EXPECT_EQ(tp.event_id, "e1");
  EXPECT_EQ(tp.customer_id, CustomerId("c1"));
  EXPECT_EQ(ToMicros(tp.occurred_at), 1767225600LL * 1000000 + 123);
  EXPECT_EQ(tp.channel, Channel::kKiosk);
  EXPECT_EQ(tp.type, Type::kPurchase);
  EXPECT_DOUBLE_EQ(tp.amount, 19.99);
  EXPECT_EQ(tp.satisfaction, 0);  // presence kept for a zero
  EXPECT_FALSE(tp.consent_granted.has_value());
  EXPECT_EQ(tp.attributes.at("k"), "v");
}

TEST(TouchpointCodecTest, DecodesJsonByHeaderOrByLeadingBrace) {
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(ValidMessage(), &json).ok());
  for (const auto& [value, content_type] :
       {std::pair{json, "application/json"}, {json, ""}, {" \n\t" + json, ""}}) {
    auto decoded = DecodeTouchpoint(value, content_type);
    ASSERT_TRUE(std::holds_alternative<Touchpoint>(decoded)) << value;
    EXPECT_EQ(std::get<Touchpoint>(decoded).product, "TV");
  }
}

std::optional<RejectReason> ReasonOf(const std::variant<Touchpoint, Rejection>& decoded) {
  if (const auto* rejection = std::get_if<Rejection>(&decoded)) return rejection->reason;
  return std::nullopt;
}

TEST(TouchpointCodecTest, RejectsWhatCannotBeRead) {
  EXPECT_EQ(ReasonOf(DecodeTouchpoint("{\"event_id\": ", "")), RejectReason::kMalformed);
  EXPECT_EQ(ReasonOf(DecodeTouchpoint("{\"no_such_field\": 1}", "")), RejectReason::kMalformed);
  EXPECT_EQ(ReasonOf(DecodeTouchpoint("\xff\xff\xff", "")), RejectReason::kMalformed);
  EXPECT_EQ(ReasonOf(DecodeTouchpoint("[1]", "application/json")), RejectReason::kMalformed);

  v1::Touchpoint unknown_channel = ValidMessage();
  unknown_channel.set_channel(static_cast<v1::Channel>(42));
  EXPECT_EQ(ReasonOf(DecodeTouchpoint(unknown_channel.SerializeAsString(), "")),
            RejectReason::kUnknownEnum);
  v1::Touchpoint unknown_type = ValidMessage();
  unknown_type.set_type(static_cast<v1::TouchpointType>(77));
  EXPECT_EQ(ReasonOf(DecodeTouchpoint(unknown_type.SerializeAsString(), "")),
            RejectReason::kUnknownEnum);

  v1::Touchpoint no_time = ValidMessage();
  no_time.clear_occurred_at();
  EXPECT_EQ(ReasonOf(DecodeTouchpoint(no_time.SerializeAsString(), "")),
            RejectReason::kBadTimestamp);
  v1::Touchpoint absurd = ValidMessage();
  absurd.mutable_occurred_at()->set_seconds(1LL << 50);
  EXPECT_EQ(ReasonOf(DecodeTouchpoint(absurd.SerializeAsString(), "")),
            RejectReason::kBadTimestamp);

  v1::Touchpoint huge = ValidMessage();
  huge.set_product(std::string(kMaxTouchpointRecordBytes + 1, 'x'));
  EXPECT_EQ(ReasonOf(DecodeTouchpoint(huge.SerializeAsString(), "")), RejectReason::kOversized);
}

TEST(TouchpointCodecTest, ProtoRoundTrip) {
  Touchpoint tp = MakeTouchpoint(Type::kConsent, "e7", 3.25, Channel::kSms);
  tp.consent_granted = false;
  tp.attributes = {{"a", "b"}};
  tp.occurred_at = FromMicros(-1500001);  // before the epoch: negative nanos handling
  v1::Touchpoint message;
  ToProto(tp, &message);
  EXPECT_GE(message.occurred_at().nanos(), 0);
  auto back = FromProto(message);
  ASSERT_TRUE(std::holds_alternative<Touchpoint>(back));
  const Touchpoint& got = std::get<Touchpoint>(back);
  EXPECT_EQ(got.occurred_at, tp.occurred_at);
  EXPECT_EQ(got.consent_granted, false);
  EXPECT_EQ(got.channel, Channel::kSms);
  EXPECT_EQ(got.attributes, tp.attributes);
}

TEST(StateCodecTest, RoundTripsEveryField) {
  CustomerState s;
  StateLimits limits;
  const std::vector<Touchpoint> events = [] {
    std::vector<Touchpoint> all;
    for (int t = 1; t < kTouchpointTypeCount; ++t) {
      Touchpoint tp = MakeTouchpoint(static_cast<Type>(t), "e" + std::to_string(t), t,
                                     static_cast<Channel>(1 + t % 9));
      tp.product = "P" + std::to_string(t % 3);
      if (tp.type == Type::kProfile) tp.attributes = {{"city", "Lyon"}};
      all.push_back(tp);
    }
    return all;
  }();
  for (const Touchpoint& tp : events) ApplyTouchpoint(tp, limits, s);

  auto decoded = DecodeState(EncodeState(s));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  const CustomerState& d = *decoded;
  EXPECT_EQ(d.events_applied, s.events_applied);
  EXPECT_EQ(d.first_seen, s.first_seen);
  EXPECT_EQ(d.last_seen, s.last_seen);
  EXPECT_EQ(d.first_purchase, s.first_purchase);
  EXPECT_EQ(d.last_purchase, s.last_purchase);
  EXPECT_EQ(d.purchases, s.purchases);
  EXPECT_EQ(d.purchase_days, s.purchase_days);
  EXPECT_EQ(d.purchase_amount, s.purchase_amount);
  EXPECT_EQ(d.returns, s.returns);
  EXPECT_EQ(d.return_amount, s.return_amount);
  EXPECT_EQ(d.complaints, s.complaints);
  EXPECT_EQ(d.recent_complaints, s.recent_complaints);
  EXPECT_EQ(d.surveys, s.surveys);
  EXPECT_EQ(d.recent_satisfaction, s.recent_satisfaction);
  EXPECT_EQ(d.cancellations, s.cancellations);
  EXPECT_EQ(d.last_cancellation, s.last_cancellation);
  EXPECT_EQ(d.campaign_responses, s.campaign_responses);
  for (int c = 0; c < kChannelCount; ++c) {
    EXPECT_EQ(d.channels[c].contacts, s.channels[c].contacts) << c;
    EXPECT_EQ(d.channels[c].last_contact, s.channels[c].last_contact) << c;
    EXPECT_EQ(d.channels[c].consent, s.channels[c].consent) << c;
    EXPECT_EQ(d.channels[c].consent_at, s.channels[c].consent_at) << c;
  }
  ASSERT_EQ(d.products.size(), s.products.size());
  for (const auto& [name, p] : s.products) {
    const ProductStats& q = d.products.at(name);
    EXPECT_EQ(q.purchases, p.purchases);
    EXPECT_EQ(q.interactions, p.interactions);
    EXPECT_EQ(q.returns, p.returns);
    EXPECT_EQ(q.cancellations, p.cancellations);
    EXPECT_EQ(q.last_at, p.last_at);
  }
  EXPECT_EQ(d.profile, s.profile);
  EXPECT_EQ(d.recent_events, s.recent_events);
  // What was remembered still deduplicates after the round trip.
  CustomerState reloaded = d;
  EXPECT_EQ(ApplyTouchpoint(events[0], limits, reloaded), ApplyOutcome::kDuplicate);
}

TEST(StateCodecTest, GarbageIsDataLoss) {
  auto decoded = DecodeState("\xff\xff\xff\xff");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace crm
