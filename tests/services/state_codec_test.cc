#include "services/codec/state_codec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/customer_state.h"
#include "core/segment.h"
#include "core/time.h"
#include "core/touchpoint.h"
#include "crm/internal/stored_state.pb.h"
#include "tests/core/expect_same_state.h"

namespace crm {
namespace {

Timestamp At(std::int64_t micros) { return FromMicros(micros); }

// A state with every field set to a distinct, non-default value, including the
// edge cases of the encoding: times before the epoch and at it, a channel with
// consent but no contact, a stated refusal, a wrapped dedup ring.
CustomerState FullyPopulated() {
  CustomerState s;
  s.events_applied = 4242;
  s.first_seen = At(-86'400'000'000);  // 1969-12-31
  s.last_seen = At(1'767'225'600'000'123);
  s.first_purchase = At(0);  // the epoch itself is a value, not an absence
  s.last_purchase = At(1'767'000'000'000'001);
  s.purchases = 17;
  s.purchase_days = {-1, 0, 20'000, 20'454};
  s.purchase_amount = 1234.5678;
  s.returns = 3;
  s.return_amount = 99.25;
  s.complaints = 5;
  s.recent_complaints = {At(1'700'000'000'000'000), At(1'600'000'000'000'000), At(-5)};
  s.surveys = 4;
  s.recent_satisfaction = {{At(1'700'000'000'000'007), 0}, {At(1'690'000'000'000'000), 10}};
  s.cancellations = 2;
  s.last_cancellation = At(1'650'000'000'000'000);
  s.campaign_responses = 6;
  s.campaign_contacts = 9;
  s.recent_campaign_contacts = {At(1'700'000'000'000'003), At(-7)};

  ChannelStats& phone = s.channels[static_cast<int>(Channel::kPhone)];
  phone.contacts = 12;
  phone.last_contact = At(1'766'000'000'000'000);
  phone.consent = false;  // a refusal, not an absence
  phone.consent_at = At(1'765'000'000'000'000);
  ChannelStats& sms = s.channels[static_cast<int>(Channel::kSms)];
  sms.consent = true;  // consent stated, never used
  sms.consent_at = At(1'764'000'000'000'000);
  ChannelStats& web = s.channels[static_cast<int>(Channel::kWeb)];
  web.contacts = 1;
  web.last_contact = At(0);

  s.products["TV"] = ProductStats{3, 4, 1, 0, At(1'767'000'000'000'001), At(1'766'000'000'000'000)};
  s.products["CONTRACT-42"] = ProductStats{0, 0, 0, 2, At(-1)};
  s.products[""] = ProductStats{1, 1, 1, 1, At(7)};  // any key the map holds survives
  s.profile["city"] = ProfileField{"Lyon", At(1'700'000'000'000'000)};
  s.profile["empty"] = ProfileField{"", At(-3)};
  s.profile["utf8"] = ProfileField{"Ch\xC3\xA2teau", At(5)};

  s.partition = 5;
  s.alert.open = true;
  s.alert.raised = 2;
  s.alert.raised_at = At(7);
  s.alert.last_churn = 0.75;
  s.alert.last_segment = Segment::kA;
  s.alert.looked_at = At(8);
  s.alert.next_look = At(9);
  s.alert.indexed_churn = 0.7;
  s.alert.control = true;
  s.alert.follow_ups = {{.number = 2,
                         .raised_at = At(7),
                         .control = true,
                         .action = RecommendedAction::kWinBack,
                         .segment = Segment::kA,
                         .contacts = 0,
                         .recovered_at = At(8),
                         .revenue = 125.5},
                        {.number = 1,
                         .raised_at = At(-2),
                         .action = RecommendedAction::kOnboard,
                         .segment = Segment::kC,
                         .contacts = 3},
                        {.number = OfferNumber("SPRING-OFFER"),
                         .raised_at = At(-3),
                         .control = true,
                         .campaign_id = "SPRING-OFFER",
                         .product = "Ch\xC3\xA2teau"}};
  s.alert.indexed_appetence = {{"P", 0.25}, {"Ch\xC3\xA2teau", 0.0}, {"Q", 1.0}};
  // Capacity 4, five ids: the ring has wrapped and its next slot is 1.
  for (const char* id : {"a", "b", "c", "d", "e"}) s.recent_events.Insert(EventIdHash(id), 4);
  return s;
}

TEST(StateCodecTest, RoundTripsAFullyPopulatedStateFieldByField) {
  const CustomerState s = FullyPopulated();
  ASSERT_EQ(s.recent_events.next(), 1u);  // the fixture is what it claims

  auto decoded = DecodeState(EncodeState(s));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  testing::ExpectSameState(s, *decoded);
}

TEST(StateCodecTest, TheDedupWindowWorksTheSameAfterARoundTrip) {
  CustomerState original = FullyPopulated();  // remembers b c d e; "b" is the next to go
  auto decoded = DecodeState(EncodeState(original));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  CustomerState reloaded = *decoded;

  for (CustomerState* s : {&original, &reloaded}) {
    Touchpoint tp;
    tp.event_id = "f";
    tp.customer_id = CustomerId("c1");
    tp.type = TouchpointType::kContact;
    EXPECT_EQ(ApplyTouchpoint(tp, StateLimits{.dedup_window = 4}, *s), ApplyOutcome::kApplied);
    EXPECT_FALSE(s->recent_events.Contains(EventIdHash("b")));
    EXPECT_TRUE(s->recent_events.Contains(EventIdHash("c")));
    tp.event_id = "e";
    EXPECT_EQ(ApplyTouchpoint(tp, StateLimits{.dedup_window = 4}, *s), ApplyOutcome::kDuplicate);
  }
  EXPECT_EQ(reloaded.recent_events, original.recent_events);
}

// Found by the fuzzer: with several profile fields, re-encoding a decoded
// state gave other bytes (protobuf orders map entries as it likes).
TEST(StateCodecTest, TheSameStateIsAlwaysTheSameBytes) {
  CustomerState s;
  for (int i = 0; i < 40; ++i) {
    s.profile["field-" + std::to_string(i * 7919 % 101)] = ProfileField{std::to_string(i), At(i)};
  }
  const std::string bytes = EncodeState(s);
  auto decoded = DecodeState(bytes);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(EncodeState(*decoded), bytes);
}

TEST(StateCodecTest, AnEmptyStateRoundTripsWithNothingSet) {
  auto decoded = DecodeState(EncodeState(CustomerState{}));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->events_applied, 0u);
  EXPECT_FALSE(decoded->first_seen.has_value());
  EXPECT_FALSE(decoded->last_seen.has_value());
  EXPECT_FALSE(decoded->first_purchase.has_value());
  EXPECT_FALSE(decoded->last_purchase.has_value());
  EXPECT_FALSE(decoded->last_cancellation.has_value());
  for (int c = 0; c < kChannelCount; ++c) {
    EXPECT_EQ(decoded->channels[c].contacts, 0u) << c;
    EXPECT_FALSE(decoded->channels[c].last_contact.has_value()) << c;
    EXPECT_FALSE(decoded->channels[c].consent.has_value()) << c;
    EXPECT_FALSE(decoded->channels[c].consent_at.has_value()) << c;
  }
  EXPECT_TRUE(decoded->products.empty());
  EXPECT_TRUE(decoded->profile.empty());
  EXPECT_TRUE(decoded->recent_events.ring().empty());
  EXPECT_EQ(decoded->recent_events.next(), 0u);
}

TEST(StateCodecTest, GarbageIsDataLoss) {
  for (const std::string& bytes : {std::string("\xff\xff\xff\xff"), std::string("\x0a\x05xy"),
                                   std::string("not a stored customer")}) {
    auto decoded = DecodeState(bytes);
    ASSERT_FALSE(decoded.ok()) << bytes;
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss) << bytes;
  }
}

TEST(StateCodecTest, AnUnknownChannelIsDataLoss) {
  internal::StoredCustomer stored;
  stored.add_channels()->set_channel(kChannelCount);
  auto decoded = DecodeState(stored.SerializeAsString());
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
}

// The segment is stored as its name ("" for none, as before the enum): every
// name reads back, anything else is refused rather than taken for none.
TEST(StateCodecTest, TheSegmentIsStoredByNameAndAnUnknownOneIsDataLoss) {
  for (Segment segment : kSegments) {
    CustomerState s;
    s.alert.last_segment = segment;
    const std::string bytes = EncodeState(s);
    internal::StoredCustomer stored;
    ASSERT_TRUE(stored.ParseFromString(bytes));
    EXPECT_EQ(stored.alert().last_segment(), SegmentName(segment));
    auto decoded = DecodeState(bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(decoded->alert.last_segment, segment);
  }
  internal::StoredCustomer stored;
  stored.mutable_alert()->set_last_segment("Z");
  auto decoded = DecodeState(stored.SerializeAsString());
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(decoded.status().message().find("unknown segment 'Z'"), std::string::npos)
      << decoded.status();
}

TEST(StateCodecTest, FadingCountersAndTheFirstDayAmountRoundTrip) {
  CustomerState s = FullyPopulated();
  s.first_day_amount = 321.125;
  ChannelStats& phone = s.channels[static_cast<int>(Channel::kPhone)];
  phone.recent_activity = 3.0517578125;
  phone.usual_activity = 11.123456789012345;
  ChannelStats& web = s.channels[static_cast<int>(Channel::kWeb)];
  web.recent_activity = 1e-300;  // tiny but not zero
  web.usual_activity = 0.5;
  ChannelStats& sms = s.channels[static_cast<int>(Channel::kSms)];  // consent only: no activity

  auto decoded = DecodeState(EncodeState(s));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->first_day_amount, 321.125);
  for (int c = 0; c < kChannelCount; ++c) {
    SCOPED_TRACE(ChannelName(static_cast<Channel>(c)));
    EXPECT_EQ(decoded->channels[c].recent_activity, s.channels[c].recent_activity);
    EXPECT_EQ(decoded->channels[c].usual_activity, s.channels[c].usual_activity);
  }
  EXPECT_EQ(decoded->channels[static_cast<int>(Channel::kSms)].recent_activity,
            sms.recent_activity);

  // As ingestion leaves them: a purchase day and contacts on one channel.
  CustomerState live;
  for (int day = 0; day < 5; ++day) {
    Touchpoint tp;
    tp.event_id = "e" + std::to_string(day);
    tp.customer_id = CustomerId("c1");
    tp.occurred_at = At(1'767'225'600'000'000 + day * 86'400'000'000LL * 3);
    tp.channel = Channel::kMobile;
    tp.type = TouchpointType::kPurchase;
    tp.amount = 10 + day;
    ASSERT_EQ(ApplyTouchpoint(tp, StateLimits{}, live), ApplyOutcome::kApplied);
  }
  const ChannelStats& mobile = live.channels[static_cast<int>(Channel::kMobile)];
  ASSERT_GT(mobile.recent_activity, 1);
  ASSERT_GT(mobile.usual_activity, mobile.recent_activity);
  ASSERT_EQ(live.first_day_amount, 10);
  auto reloaded = DecodeState(EncodeState(live));
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  const ChannelStats& got = reloaded->channels[static_cast<int>(Channel::kMobile)];
  EXPECT_EQ(got.recent_activity, mobile.recent_activity);
  EXPECT_EQ(got.usual_activity, mobile.usual_activity);
  EXPECT_EQ(reloaded->first_day_amount, 10);
}

}  // namespace
}  // namespace crm

namespace crm {
namespace {

TEST(StateCodecTest, TheAlertStateRoundTrips) {
  CustomerState s = FullyPopulated();
  s.alert.open = true;
  s.alert.raised = 3;
  s.alert.raised_at = FromMicros(1'767'000'000'000'000);
  s.alert.last_churn = 0.8125;
  s.alert.last_segment = Segment::kB;
  s.alert.looked_at = FromMicros(1'767'000'000'000'001);
  s.alert.next_look = FromMicros(1'768'000'000'000'000);
  auto decoded = DecodeState(EncodeState(s));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->alert, s.alert);
  // An indexed appetence outside 0-1 is no probability: a record not to trust.
  s.alert.indexed_appetence["P"] = 1.5;
  EXPECT_EQ(DecodeState(EncodeState(s)).status().code(), absl::StatusCode::kDataLoss);
  // Absent times stay absent.
  CustomerState fresh;
  auto fresh_decoded = DecodeState(EncodeState(fresh));
  ASSERT_TRUE(fresh_decoded.ok());
  EXPECT_EQ(fresh_decoded->alert, AlertState{});
}

// The next look read alone is the one the whole decode reads: set or not,
// before the epoch, with the other fields around it; a record cut short or
// not a record is data loss.
TEST(StateCodecTest, TheNextLookReadAloneIsTheDecodedOne) {
  for (const std::optional<Timestamp> next :
       {std::optional<Timestamp>(), std::optional<Timestamp>(FromMicros(1'768'000'000'000'000)),
        std::optional<Timestamp>(FromMicros(-5)), std::optional<Timestamp>(FromMicros(0))}) {
    for (CustomerState s : {CustomerState{}, FullyPopulated()}) {
      s.alert.next_look = next;
      s.alert.looked_at = FromMicros(7);
      const std::string bytes = EncodeState(s);
      auto read = NextLookOf(bytes);
      ASSERT_TRUE(read.ok()) << read.status();
      EXPECT_EQ(*read, DecodeState(bytes).value().alert.next_look);
      EXPECT_EQ(*read, next);
    }
  }
  CustomerState s = FullyPopulated();
  s.alert.next_look = FromMicros(1'768'000'000'000'000);
  const std::string bytes = EncodeState(s);
  for (const std::string& bad : {bytes.substr(0, bytes.size() - 1), std::string("\xff\xff\xff\xff"),
                                 std::string("\xc2\x01\x05\x38")}) {
    EXPECT_EQ(NextLookOf(bad).status().code(), absl::StatusCode::kDataLoss);
  }
}

// Every field of a partition's state, the checkpoint's moment included (a
// checkpoint of unknown age is not trusted: IngestProcessor::RestorePartition).
TEST(StateCodecTest, APartitionStateRoundTripsFieldByField) {
  PartitionState p;
  p.next_offset = 42;
  p.watermark = FromMicros(1'767'000'000'000'000);
  p.open_alerts = 3;
  p.epoch = 0xfeedfacecafebeef;
  p.seq = 17;
  p.parent = ChangelogStamp{5, 9};
  p.changelog_offset = 1234;
  p.checkpoint_at = FromMicros(1'767'000'000'123'456);
  auto decoded = DecodePartition(EncodePartition(p));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, p);
  auto empty = DecodePartition(EncodePartition(PartitionState{}));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, PartitionState{});
}

}  // namespace
}  // namespace crm
