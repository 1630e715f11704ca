#include "core/customer_state.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "core/time.h"
#include "core/touchpoint.h"
#include "tests/core/expect_same_state.h"
#include "tests/core/test_touchpoints.h"

namespace crm {
namespace {

using testing::Day;
using testing::ExpectSameState;
using testing::MakeTouchpoint;
using Type = TouchpointType;

class CustomerStateTest : public ::testing::Test {
 protected:
  ApplyOutcome Apply(const Touchpoint& tp) { return ApplyTouchpoint(tp, limits_, state_); }
  ApplyOutcome Contact(const std::string& event_id, double day = 1) {
    return Apply(MakeTouchpoint(Type::kContact, event_id, day));
  }

  StateLimits limits_;
  CustomerState state_;
};

// --- One touchpoint of each type -------------------------------------------

TEST_F(CustomerStateTest, ContactIsChannelActivityAndAProductInteraction) {
  Touchpoint tp = MakeTouchpoint(Type::kContact, "e1", 2.5, Channel::kKiosk);
  tp.product = "TV";
  EXPECT_EQ(Apply(tp), ApplyOutcome::kApplied);
  EXPECT_EQ(state_.events_applied, 1u);
  EXPECT_EQ(state_.first_seen, Day(2.5));
  EXPECT_EQ(state_.last_seen, Day(2.5));
  EXPECT_EQ(state_.channel(Channel::kKiosk).contacts, 1u);
  EXPECT_EQ(state_.channel(Channel::kKiosk).last_contact, Day(2.5));
  EXPECT_EQ(state_.products.at("TV").interactions, 1u);
  EXPECT_EQ(state_.products.at("TV").purchases, 0u);
  EXPECT_EQ(state_.products.at("TV").last_at, Day(2.5));
  EXPECT_EQ(state_.purchases, 0u);
  EXPECT_FALSE(state_.first_purchase.has_value());
}

TEST_F(CustomerStateTest, PurchaseUpdatesAmountsDaysProductAndChannel) {
  Touchpoint tp = MakeTouchpoint(Type::kPurchase, "e1", 3.5);
  tp.amount = 42.5;
  tp.product = "TV";
  EXPECT_EQ(Apply(tp), ApplyOutcome::kApplied);
  EXPECT_EQ(state_.events_applied, 1u);
  EXPECT_EQ(state_.purchases, 1u);
  EXPECT_DOUBLE_EQ(state_.purchase_amount, 42.5);
  EXPECT_EQ(state_.first_purchase, Day(3.5));
  EXPECT_EQ(state_.last_purchase, Day(3.5));
  EXPECT_EQ(state_.purchase_days, std::vector<std::int32_t>{DayNumber(Day(3.5))});
  EXPECT_EQ(state_.transactions(), 1u);
  EXPECT_EQ(state_.products.at("TV").purchases, 1u);
  EXPECT_EQ(state_.channel(Channel::kWeb).contacts, 1u);
  EXPECT_EQ(state_.channel(Channel::kWeb).last_contact, Day(3.5));
}

TEST_F(CustomerStateTest, ReturnAddsToReturnsAndItsProduct) {
  Touchpoint tp = MakeTouchpoint(Type::kReturn, "r1", 4);
  tp.amount = 7.25;
  tp.product = "TV";
  EXPECT_EQ(Apply(tp), ApplyOutcome::kApplied);
  EXPECT_EQ(state_.returns, 1u);
  EXPECT_DOUBLE_EQ(state_.return_amount, 7.25);
  EXPECT_EQ(state_.products.at("TV").returns, 1u);
  // A return is not a purchase.
  EXPECT_EQ(state_.purchases, 0u);
  EXPECT_DOUBLE_EQ(state_.purchase_amount, 0);
  EXPECT_TRUE(state_.purchase_days.empty());
  EXPECT_EQ(state_.channel(Channel::kWeb).contacts, 1u);
}

TEST_F(CustomerStateTest, ComplaintsKeepTheLatestTimesFirstAndBounded) {
  limits_.recent_complaints = 2;
  Apply(MakeTouchpoint(Type::kComplaint, "k1", 3, Channel::kPhone));
  Apply(MakeTouchpoint(Type::kComplaint, "k2", 1, Channel::kPhone));  // late, older
  Apply(MakeTouchpoint(Type::kComplaint, "k3", 5, Channel::kPhone));
  EXPECT_EQ(state_.complaints, 3u);  // the count is not bounded
  EXPECT_EQ(state_.recent_complaints, (std::vector<Timestamp>{Day(5), Day(3)}));
  EXPECT_EQ(state_.channel(Channel::kPhone).contacts, 3u);
  EXPECT_EQ(state_.channel(Channel::kPhone).last_contact, Day(5));
}

TEST_F(CustomerStateTest, SurveyKeepsItsSatisfactionScore) {
  Touchpoint tp = MakeTouchpoint(Type::kSurvey, "s1", 2, Channel::kEmail);
  tp.satisfaction = 0;  // a zero is a score, not an absence
  EXPECT_EQ(Apply(tp), ApplyOutcome::kApplied);
  EXPECT_EQ(state_.surveys, 1u);
  EXPECT_EQ(state_.recent_satisfaction, (std::vector<SatisfactionSample>{{Day(2), 0}}));
  EXPECT_EQ(state_.channel(Channel::kEmail).contacts, 1u);
}

TEST_F(CustomerStateTest, CampaignResponseCountsAndIsAnInteractionWithTheOffer) {
  Touchpoint tp = MakeTouchpoint(Type::kCampaignResponse, "m1", 6, Channel::kEmail);
  tp.product = "SPRING-OFFER";
  EXPECT_EQ(Apply(tp), ApplyOutcome::kApplied);
  EXPECT_EQ(state_.campaign_responses, 1u);
  EXPECT_EQ(state_.products.at("SPRING-OFFER").interactions, 1u);
  EXPECT_EQ(state_.channel(Channel::kEmail).contacts, 1u);
  EXPECT_EQ(state_.channel(Channel::kEmail).last_contact, Day(6));
}

TEST_F(CustomerStateTest, CampaignContactCountsAndIsNotTheCustomersActivity) {
  limits_.recent_campaign_contacts = 3;
  for (double day : {5.0, 2.0, 9.0, 7.0}) {
    Touchpoint tp =
        MakeTouchpoint(Type::kCampaignContact, "k" + std::to_string(day), day, Channel::kEmail);
    tp.product = "WINBACK";
    EXPECT_EQ(Apply(tp), ApplyOutcome::kApplied);
  }
  EXPECT_EQ(state_.campaign_contacts, 4u);
  // The latest by event time, latest first, bounded: day 2 is dropped.
  EXPECT_EQ(state_.recent_campaign_contacts, (std::vector<Timestamp>{Day(9), Day(7), Day(5)}));
  // A contact the company made: no channel activity, no product interest.
  EXPECT_EQ(state_.channel(Channel::kEmail).contacts, 0u);
  EXPECT_FALSE(state_.channel(Channel::kEmail).last_contact.has_value());
  EXPECT_TRUE(state_.products.empty());
  EXPECT_EQ(state_.campaign_responses, 0u);
  EXPECT_EQ(state_.events_applied, 4u);
  // A contact held out (an offer campaign's control group) was not made.
  Touchpoint held = MakeTouchpoint(Type::kCampaignContact, "held", 10, Channel::kEmail);
  held.held_out = true;
  EXPECT_EQ(Apply(held), ApplyOutcome::kApplied);
  EXPECT_EQ(state_.campaign_contacts, 4u);
  EXPECT_EQ(state_.recent_campaign_contacts.front(), Day(9));
}

TEST_F(CustomerStateTest, ConsentSetsTheChannelsConsentAndIsNotChannelActivity) {
  Touchpoint tp = MakeTouchpoint(Type::kConsent, "c1", 2, Channel::kSms);
  tp.consent_granted = false;
  EXPECT_EQ(Apply(tp), ApplyOutcome::kApplied);
  EXPECT_EQ(state_.events_applied, 1u);
  EXPECT_EQ(state_.last_seen, Day(2));
  EXPECT_EQ(state_.channel(Channel::kSms).consent, false);
  EXPECT_EQ(state_.channel(Channel::kSms).consent_at, Day(2));
  EXPECT_EQ(state_.channel(Channel::kSms).contacts, 0u);
  EXPECT_FALSE(state_.channel(Channel::kSms).last_contact.has_value());
  EXPECT_FALSE(state_.channel(Channel::kEmail).consent.has_value());  // other channels untouched
}

TEST_F(CustomerStateTest, CancellationCountsKeepsTheLatestAndTouchesItsProduct) {
  Touchpoint newer = MakeTouchpoint(Type::kCancellation, "x1", 8, Channel::kMail);
  newer.product = "CONTRACT";
  Apply(newer);
  Touchpoint older = MakeTouchpoint(Type::kCancellation, "x2", 3, Channel::kMail);  // late
  older.product = "CONTRACT";
  Apply(older);
  EXPECT_EQ(state_.cancellations, 2u);
  EXPECT_EQ(state_.last_cancellation, Day(8));
  EXPECT_EQ(state_.products.at("CONTRACT").cancellations, 2u);
  EXPECT_EQ(state_.products.at("CONTRACT").last_at, Day(8));
  EXPECT_EQ(state_.channel(Channel::kMail).contacts, 2u);
}

TEST_F(CustomerStateTest, ProfileStoresAttributesAndIsNotChannelActivity) {
  Touchpoint tp = MakeTouchpoint(Type::kProfile, "p1", 4);
  tp.attributes = {{"city", "Lyon"}, {"age_band", "30-39"}};
  EXPECT_EQ(Apply(tp), ApplyOutcome::kApplied);
  EXPECT_EQ(state_.profile.size(), 2u);
  EXPECT_EQ(state_.profile.at("city"), (ProfileField{"Lyon", Day(4)}));
  EXPECT_EQ(state_.profile.at("age_band"), (ProfileField{"30-39", Day(4)}));
  EXPECT_EQ(state_.channel(Channel::kWeb).contacts, 0u);
  EXPECT_EQ(state_.events_applied, 1u);
}

TEST_F(CustomerStateTest, ProfileFieldsAreBoundedButKnownFieldsStillUpdate) {
  limits_.max_profile_fields = 2;
  Touchpoint first = MakeTouchpoint(Type::kProfile, "p1", 1);
  first.attributes = {{"a", "1"}, {"b", "1"}};
  Apply(first);
  Touchpoint second = MakeTouchpoint(Type::kProfile, "p2", 2);
  second.attributes = {{"b", "2"}, {"c", "2"}};
  Apply(second);
  EXPECT_EQ(state_.profile.size(), 2u);
  EXPECT_FALSE(state_.profile.contains("c"));
  EXPECT_EQ(state_.profile.at("b").value, "2");
}

TEST_F(CustomerStateTest, UnspecifiedChannelIsNoChannelActivity) {
  Apply(MakeTouchpoint(Type::kContact, "e1", 1, Channel::kUnspecified));
  EXPECT_EQ(state_.events_applied, 1u);
  for (int c = 0; c < kChannelCount; ++c) EXPECT_EQ(state_.channels[c].contacts, 0u) << c;
}

TEST_F(CustomerStateTest, FirstAndLastSeenFollowEventTimeNotArrival) {
  Contact("e1", 5);
  Contact("e2", 2);
  Contact("e3", 9);
  Contact("e4", 7);
  EXPECT_EQ(state_.first_seen, Day(2));
  EXPECT_EQ(state_.last_seen, Day(9));
  EXPECT_EQ(state_.channel(Channel::kWeb).last_contact, Day(9));
  EXPECT_EQ(state_.events_applied, 4u);
}

// --- Duplicates ------------------------------------------------------------

TEST_F(CustomerStateTest, DuplicateEventIdIsSkippedAndLeavesStateUnchanged) {
  Touchpoint purchase = MakeTouchpoint(Type::kPurchase, "e1", 1);
  purchase.product = "TV";
  Apply(purchase);
  Apply(MakeTouchpoint(Type::kSurvey, "e2", 2));
  const CustomerState before = state_;

  // The same event id, whatever else it carries.
  Touchpoint again = purchase;
  again.amount = 999;
  again.occurred_at = Day(30);
  EXPECT_EQ(Apply(again), ApplyOutcome::kDuplicate);
  EXPECT_EQ(Apply(MakeTouchpoint(Type::kComplaint, "e2", 3)), ApplyOutcome::kDuplicate);
  ExpectSameState(before, state_);
}

// The documented bound: an id is recognised while fewer than dedup_window newer
// distinct ids of the customer have been applied, and forgotten after that.
TEST_F(CustomerStateTest, DuplicateIsAppliedAgainAfterDedupWindowNewerDistinctIds) {
  limits_.dedup_window = 3;
  Contact("a");
  Contact("b");
  Contact("c");  // two newer than "a"
  EXPECT_EQ(Contact("a"), ApplyOutcome::kDuplicate);
  Contact("d");  // three newer than "a": it leaves the window
  EXPECT_EQ(Contact("b"), ApplyOutcome::kDuplicate);
  EXPECT_EQ(Contact("a"), ApplyOutcome::kApplied);
  EXPECT_EQ(state_.events_applied, 5u);
}

TEST_F(CustomerStateTest, DuplicateIsRecognisedUntil128NewerDistinctIdsByDefault) {
  ASSERT_EQ(limits_.dedup_window, 128u);  // the documented default
  Contact("first");
  for (int i = 0; i < 127; ++i) Contact("n" + std::to_string(i));
  EXPECT_EQ(Contact("first"), ApplyOutcome::kDuplicate);
  Contact("n127");
  EXPECT_EQ(Contact("first"), ApplyOutcome::kApplied);
}

TEST_F(CustomerStateTest, ZeroDedupWindowRemembersNothing) {
  limits_.dedup_window = 0;
  EXPECT_EQ(Contact("a"), ApplyOutcome::kApplied);
  EXPECT_EQ(Contact("a"), ApplyOutcome::kApplied);
  EXPECT_TRUE(state_.recent_events.ring().empty());
}

TEST_F(CustomerStateTest, LoweringTheDedupWindowKeepsTheNewestIds) {
  limits_.dedup_window = 4;
  for (const char* id : {"a", "b", "c", "d", "e"}) Contact(id);  // wrapped: b c d e
  limits_.dedup_window = 2;
  Contact("f");  // keeps e f
  EXPECT_EQ(state_.recent_events.ring().size(), 2u);
  EXPECT_EQ(Contact("f"), ApplyOutcome::kDuplicate);
  EXPECT_EQ(Contact("e"), ApplyOutcome::kDuplicate);
  EXPECT_EQ(Contact("d"), ApplyOutcome::kApplied);
}

// The window may be raised between runs (--dedup-window) over stored rings
// that have already wrapped.
TEST_F(CustomerStateTest, RaisingTheDedupWindowStillForgetsTheOldestIdFirst) {
  limits_.dedup_window = 2;
  for (const char* id : {"a", "b", "c"}) Contact(id);  // wrapped: remembers b c
  limits_.dedup_window = 4;
  for (const char* id : {"d", "e", "f"}) Contact(id);  // four held: c d e f
  EXPECT_EQ(Contact("c"), ApplyOutcome::kDuplicate);   // only 3 newer than "c"
  EXPECT_EQ(Contact("b"), ApplyOutcome::kApplied);     // 4 newer than "b"
}

TEST(DedupWindowTest, RestoreRejectsANextSlotPastTheRing) {
  DedupWindow window;
  window.Restore({1, 2, 3}, 7);
  EXPECT_EQ(window.next(), 0u);
  window.Insert(4, 3);  // overwrites slot 0
  EXPECT_EQ(window.ring(), (std::vector<std::uint64_t>{4, 2, 3}));
  EXPECT_FALSE(window.Contains(1));
  EXPECT_TRUE(window.Contains(2));

  DedupWindow filling;
  filling.Restore({1, 2}, 2);  // a ring still filling: next is its size
  EXPECT_EQ(filling.next(), 2u);
  filling.Insert(3, 4);
  EXPECT_EQ(filling.ring(), (std::vector<std::uint64_t>{1, 2, 3}));
}

// --- Out-of-order events ---------------------------------------------------

TEST_F(CustomerStateTest, LatePurchaseUpdatesFirstAndLastPurchaseByEventTime) {
  Apply(MakeTouchpoint(Type::kPurchase, "e1", 10));
  Apply(MakeTouchpoint(Type::kPurchase, "e2", 2));  // arrives late
  EXPECT_EQ(state_.first_purchase, Day(2));
  EXPECT_EQ(state_.last_purchase, Day(10));
  Apply(MakeTouchpoint(Type::kPurchase, "e3", 6));  // in between
  EXPECT_EQ(state_.first_purchase, Day(2));
  EXPECT_EQ(state_.last_purchase, Day(10));
  EXPECT_EQ(state_.purchase_days,
            (std::vector<std::int32_t>{DayNumber(Day(2)), DayNumber(Day(6)), DayNumber(Day(10))}));
  EXPECT_EQ(state_.purchases, 3u);
}

TEST_F(CustomerStateTest, SameDayPurchasesAreOneTransaction) {
  Apply(MakeTouchpoint(Type::kPurchase, "e1", 3.1));
  Apply(MakeTouchpoint(Type::kPurchase, "e2", 3.9));
  Apply(MakeTouchpoint(Type::kPurchase, "e3", 5.0));
  Apply(MakeTouchpoint(Type::kPurchase, "e4", 3.0));  // late, same UTC day as e1 and e2
  EXPECT_EQ(state_.purchases, 4u);
  EXPECT_DOUBLE_EQ(state_.purchase_amount, 40);
  EXPECT_EQ(state_.transactions(), 2u);
  EXPECT_EQ(state_.purchase_days,
            (std::vector<std::int32_t>{DayNumber(Day(3)), DayNumber(Day(5))}));
}

TEST_F(CustomerStateTest, PurchaseDaysAreUtcCalendarDays) {
  Touchpoint before_midnight = MakeTouchpoint(Type::kPurchase, "e1", 0);
  before_midnight.occurred_at = Day(1) - Micros(1);
  Apply(before_midnight);
  Apply(MakeTouchpoint(Type::kPurchase, "e2", 1));  // one microsecond later, the next day
  EXPECT_EQ(state_.transactions(), 2u);
  EXPECT_EQ(state_.purchase_days[1] - state_.purchase_days[0], 1);
}

TEST_F(CustomerStateTest, LateConsentDoesNotOverrideANewerOne) {
  Touchpoint opt_out = MakeTouchpoint(Type::kConsent, "c2", 5, Channel::kEmail);
  opt_out.consent_granted = false;
  Apply(opt_out);
  Apply(MakeTouchpoint(Type::kConsent, "c1", 2, Channel::kEmail));  // older opt-in, late
  EXPECT_EQ(state_.channel(Channel::kEmail).consent, false);
  EXPECT_EQ(state_.channel(Channel::kEmail).consent_at, Day(5));
  Apply(MakeTouchpoint(Type::kConsent, "c3", 6, Channel::kEmail));  // newer opt-in
  EXPECT_EQ(state_.channel(Channel::kEmail).consent, true);
  EXPECT_EQ(state_.channel(Channel::kEmail).consent_at, Day(6));
}

TEST_F(CustomerStateTest, ConsentAtTheSameEventTimeGoesToTheLaterArrival) {
  Apply(MakeTouchpoint(Type::kConsent, "c1", 5, Channel::kEmail));
  Touchpoint opt_out = MakeTouchpoint(Type::kConsent, "c2", 5, Channel::kEmail);
  opt_out.consent_granted = false;
  Apply(opt_out);
  EXPECT_EQ(state_.channel(Channel::kEmail).consent, false);
}

TEST_F(CustomerStateTest, LateProfileValueDoesNotOverrideANewerOne) {
  Touchpoint newer = MakeTouchpoint(Type::kProfile, "p1", 5);
  newer.attributes = {{"city", "Lyon"}};
  Apply(newer);
  Touchpoint older = MakeTouchpoint(Type::kProfile, "p2", 1);
  older.attributes = {{"city", "Paris"}, {"segment", "student"}};
  Apply(older);
  EXPECT_EQ(state_.profile.at("city"), (ProfileField{"Lyon", Day(5)}));
  // A field the newer event did not state is still taken from the late one.
  EXPECT_EQ(state_.profile.at("segment"), (ProfileField{"student", Day(1)}));
  Touchpoint newest = MakeTouchpoint(Type::kProfile, "p3", 7);
  newest.attributes = {{"city", "Nantes"}};
  Apply(newest);
  EXPECT_EQ(state_.profile.at("city"), (ProfileField{"Nantes", Day(7)}));
}

TEST_F(CustomerStateTest, RecentSatisfactionKeepsTheLatestByEventTime) {
  limits_.recent_satisfaction = 2;
  for (auto [id, day, score] : {std::tuple{"s1", 1.0, 9}, {"s2", 5.0, 2}, {"s3", 3.0, 6}}) {
    Touchpoint tp = MakeTouchpoint(Type::kSurvey, id, day, Channel::kEmail);
    tp.satisfaction = score;
    Apply(tp);
  }
  EXPECT_EQ(state_.surveys, 3u);
  EXPECT_EQ(state_.recent_satisfaction,
            (std::vector<SatisfactionSample>{{Day(5), 2}, {Day(3), 6}}));

  Touchpoint too_old = MakeTouchpoint(Type::kSurvey, "s4", 0.5, Channel::kEmail);
  too_old.satisfaction = 10;
  Apply(too_old);  // older than every kept sample: counted, not kept
  EXPECT_EQ(state_.surveys, 4u);
  EXPECT_EQ(state_.recent_satisfaction,
            (std::vector<SatisfactionSample>{{Day(5), 2}, {Day(3), 6}}));

  Touchpoint same_time = MakeTouchpoint(Type::kSurvey, "s5", 5, Channel::kEmail);
  same_time.satisfaction = 4;
  Apply(same_time);  // a tie in event time: the later arrival first
  EXPECT_EQ(state_.recent_satisfaction,
            (std::vector<SatisfactionSample>{{Day(5), 4}, {Day(5), 2}}));
}

TEST_F(CustomerStateTest, AggregatesDoNotDependOnArrivalOrder) {
  std::vector<Touchpoint> events;
  for (int i = 0; i < 12; ++i) {
    const Type type = static_cast<Type>(1 + i % (kTouchpointTypeCount - 1));
    Touchpoint tp = MakeTouchpoint(type, "e" + std::to_string(i), 1 + (i * 7) % 12,
                                   static_cast<Channel>(1 + i % 3));
    tp.product = "P" + std::to_string(i % 4);
    if (type == Type::kProfile) tp.attributes = {{"city", "C" + std::to_string(i)}};
    if (type == Type::kSurvey) tp.satisfaction = i % 11;
    events.push_back(tp);
  }
  CustomerState forward, backward;
  for (auto it = events.begin(); it != events.end(); ++it) {
    ApplyTouchpoint(*it, limits_, forward);
  }
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    ApplyTouchpoint(*it, limits_, backward);
  }
  backward.recent_events = forward.recent_events;  // the ring records arrival order
  ExpectSameState(forward, backward);
}

// --- Products --------------------------------------------------------------

TEST_F(CustomerStateTest, ProductsAreBoundedDroppingTheLeastRecentlyActive) {
  limits_.max_products = 2;
  auto touch = [&](const char* id, const char* product, double day) {
    Touchpoint tp = MakeTouchpoint(Type::kContact, id, day);
    tp.product = product;
    Apply(tp);
  };
  touch("1", "A", 1);
  touch("2", "B", 2);
  touch("3", "A", 4);  // A is now the most recently active
  touch("4", "C", 3);  // drops B (last active day 2), not A
  EXPECT_EQ(state_.products.size(), 2u);
  EXPECT_TRUE(state_.products.contains("A"));
  EXPECT_FALSE(state_.products.contains("B"));
  EXPECT_TRUE(state_.products.contains("C"));
  EXPECT_EQ(state_.products.at("A").interactions, 2u);

  touch("5", "D", 0.5);  // older than everything kept: not tracked
  EXPECT_FALSE(state_.products.contains("D"));
  EXPECT_EQ(state_.products.size(), 2u);
  EXPECT_EQ(state_.events_applied, 5u);  // still applied to the other aggregates
}

TEST_F(CustomerStateTest, ZeroMaxProductsTracksNone) {
  limits_.max_products = 0;
  Touchpoint tp = MakeTouchpoint(Type::kPurchase, "1", 1);
  tp.product = "A";
  Apply(tp);
  EXPECT_TRUE(state_.products.empty());
  EXPECT_EQ(state_.purchases, 1u);
}

TEST_F(CustomerStateTest, EmptyProductIsNotTracked) {
  Apply(MakeTouchpoint(Type::kPurchase, "1", 1));
  EXPECT_TRUE(state_.products.empty());
}

// --- EventIdHash -----------------------------------------------------------

// FNV-1a 64: start from the offset basis 14695981039346656037 (0xcbf29ce484222325);
// per byte, xor it in, then multiply by the prime 1099511628211 (0x100000001b3)
// modulo 2^64. For "a" (0x61): 0xcbf29ce484222325 ^ 0x61 = 0xcbf29ce484222344,
// times 0x100000001b3 mod 2^64 = 0xaf63dc4c8601ec8c. The values are persisted.
// --- Bytes: the estimate and the cap ----------------------------------------

TEST(StateBytesTest, CountsTheHeapBehindStringsMapsAndVectors) {
  CustomerState state;
  const std::size_t empty = StateBytes(state);
  EXPECT_EQ(empty, sizeof(CustomerState));

  state.purchase_days = {1, 2, 3};
  EXPECT_EQ(StateBytes(state), empty + 3 * sizeof(std::int32_t));
  state.purchase_days.clear();
  state.recent_campaign_contacts = {Day(1), Day(2)};
  EXPECT_EQ(StateBytes(state), empty + 2 * sizeof(Timestamp));
  state.recent_campaign_contacts.clear();

  state.profile["city"] = ProfileField{"Lyon", Day(1)};  // both inline: a node only
  const std::size_t node = StateBytes(state) - empty;
  EXPECT_GE(node, sizeof(std::pair<const std::string, ProfileField>) + 32);
  state.profile["note"] = ProfileField{std::string(2000, 'n'), Day(1)};
  EXPECT_GE(StateBytes(state), empty + 2 * node + 2000);  // the value's heap counted
  EXPECT_LE(StateBytes(state), empty + 2 * node + 2001);
  state.products[std::string(100, 'p')] = ProductStats{};
  EXPECT_GE(StateBytes(state), empty + 2 * node + 2000 + 100);

  // The content alone decides: a copy (exact capacities) counts the same.
  state.purchase_days.reserve(1000);
  const CustomerState copy = state;
  EXPECT_EQ(StateBytes(copy), StateBytes(state));
}

TEST(StateBytesTest, TheIssuesWorstCaseIsOverTheDefaultCap) {
  // 64 profile fields of 1 KiB keys and values, 64 products of 256 bytes:
  // what the per-field bounds alone allow.
  CustomerState state;
  for (int i = 0; i < 64; ++i) {
    std::string key(1024, 'k');
    key.replace(0, 4, std::to_string(1000 + i));
    state.profile[key] = ProfileField{std::string(1024, 'v'), Day(1)};
    std::string product(256, 'p');
    product.replace(0, 4, std::to_string(1000 + i));
    state.products[product] = ProductStats{};
  }
  EXPECT_GT(StateBytes(state), 140'000u);
  EXPECT_GT(StateBytes(state), StateLimits{}.max_state_bytes);
}

TEST_F(CustomerStateTest, ATouchpointPastTheCapIsRefusedAndLeavesTheStateUnchanged) {
  limits_.max_state_bytes = 16 * 1024;
  // Profile touchpoints of 4 new 1 KiB fields each, until one is refused.
  int applied = 0;
  ApplyOutcome outcome = ApplyOutcome::kApplied;
  for (int i = 0; i < 64 && outcome == ApplyOutcome::kApplied; ++i) {
    Touchpoint tp = MakeTouchpoint(Type::kProfile, "p" + std::to_string(i), 1 + i);
    for (int f = 0; f < 4; ++f) {
      tp.attributes["field" + std::to_string(i * 4 + f)] = std::string(1024, 'v');
    }
    const CustomerState before = state_;
    outcome = Apply(tp);
    if (outcome == ApplyOutcome::kApplied) {
      ++applied;
      continue;
    }
    EXPECT_EQ(outcome, ApplyOutcome::kTooLarge);
    ExpectSameState(before, state_);  // nothing of it applied: fields, event id, counts
    EXPECT_EQ(state_.events_applied, static_cast<std::uint64_t>(applied));
  }
  ASSERT_EQ(outcome, ApplyOutcome::kTooLarge);
  EXPECT_GE(applied, 2);
  EXPECT_LE(StateBytes(state_), limits_.max_state_bytes);

  // What does not grow the state still applies: an existing field replaced by
  // a value of the same size, and a duplicate is still a duplicate.
  Touchpoint same = MakeTouchpoint(Type::kProfile, "same", 100);
  same.attributes["field0"] = std::string(1024, 'w');
  limits_.max_state_bytes = StateBytes(state_) + 8;           // no room for one more event id
  limits_.dedup_window = state_.recent_events.ring().size();  // the ring full: no growth
  EXPECT_EQ(Apply(same), ApplyOutcome::kApplied);
  EXPECT_EQ(state_.profile.at("field0").value, std::string(1024, 'w'));
  EXPECT_EQ(Apply(same), ApplyOutcome::kDuplicate);
  // And a growing one is refused however small.
  Touchpoint product = MakeTouchpoint(Type::kContact, "c", 101);
  product.product = std::string(64, 'n');
  EXPECT_EQ(Apply(product), ApplyOutcome::kTooLarge);
}

TEST_F(CustomerStateTest, ZeroMaxStateBytesIsNoCap) {
  limits_.max_state_bytes = 0;
  for (int i = 0; i < 40; ++i) {
    Touchpoint tp = MakeTouchpoint(Type::kProfile, "p" + std::to_string(i), 1 + i);
    tp.attributes["field" + std::to_string(i)] = std::string(2048, 'v');
    ASSERT_EQ(Apply(tp), ApplyOutcome::kApplied) << i;
  }
  EXPECT_GT(StateBytes(state_), 80'000u);
}

// The window lowered to exactly the number of ids held, before it wrapped
// (a smaller --dedup-window at a restart): the next id replaces the oldest,
// inside the ring (it was written past its end).
TEST(DedupWindowTest, LoweredToItsSizeBeforeWrappingForgetsTheOldest) {
  DedupWindow window;
  for (std::uint64_t h = 1; h <= 3; ++h) window.Insert(h, 128);
  window.Insert(4, 3);
  ASSERT_EQ(window.ring().size(), 3u);
  EXPECT_FALSE(window.Contains(1));
  for (std::uint64_t h = 2; h <= 4; ++h) EXPECT_TRUE(window.Contains(h)) << h;
  window.Insert(5, 3);
  EXPECT_FALSE(window.Contains(2));
  EXPECT_TRUE(window.Contains(5));
}

TEST(EventIdHashTest, IsStableFnv1a64) {
  EXPECT_EQ(EventIdHash(""), 14695981039346656037ULL);
  EXPECT_EQ(EventIdHash("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(EventIdHash("foobar"), 0x85944171f73967e8ULL);  // the published test vector
  EXPECT_NE(EventIdHash("ab"), EventIdHash("ba"));
}

TEST(EventIdHashTest, HashesBytesNotCharacters) {
  // Bytes above 0x7f are hashed as unsigned values whatever char's signedness.
  const std::string high = "\xff";
  EXPECT_EQ(EventIdHash(high), (14695981039346656037ULL ^ 0xffULL) * 1099511628211ULL);
  EXPECT_NE(EventIdHash(std::string_view("a\0b", 3)), EventIdHash("ab"));
}

}  // namespace
}  // namespace crm
