#include "core/customer_state.h"

#include <gtest/gtest.h>

#include "tests/core/test_touchpoints.h"

namespace crm {
namespace {

using testing::Day;
using testing::MakeTouchpoint;
using Type = TouchpointType;

class CustomerStateTest : public ::testing::Test {
 protected:
  ApplyOutcome Apply(const Touchpoint& tp) { return ApplyTouchpoint(tp, limits_, state_); }
  StateLimits limits_;
  CustomerState state_;
};

TEST_F(CustomerStateTest, PurchaseUpdatesAmountsDaysAndProduct) {
  Touchpoint tp = MakeTouchpoint(Type::kPurchase, "e1", 3.5);
  tp.amount = 42.5;
  tp.product = "TV";
  EXPECT_EQ(Apply(tp), ApplyOutcome::kApplied);
  EXPECT_EQ(state_.events_applied, 1u);
  EXPECT_EQ(state_.purchases, 1u);
  EXPECT_DOUBLE_EQ(state_.purchase_amount, 42.5);
  EXPECT_EQ(state_.first_purchase, Day(3.5));
  EXPECT_EQ(state_.last_purchase, Day(3.5));
  EXPECT_EQ(state_.transactions(), 1u);
  EXPECT_EQ(state_.products.at("TV").purchases, 1u);
  EXPECT_EQ(state_.channel(Channel::kWeb).contacts, 1u);
  EXPECT_EQ(state_.channel(Channel::kWeb).last_contact, Day(3.5));
}

TEST_F(CustomerStateTest, SameDayPurchasesAreOneTransaction) {
  Apply(MakeTouchpoint(Type::kPurchase, "e1", 3.1));
  Apply(MakeTouchpoint(Type::kPurchase, "e2", 3.9));
  Apply(MakeTouchpoint(Type::kPurchase, "e3", 5.0));
  EXPECT_EQ(state_.purchases, 3u);
  EXPECT_EQ(state_.transactions(), 2u);
}

TEST_F(CustomerStateTest, LatePurchaseUpdatesFirstAndLastByEventTime) {
  Apply(MakeTouchpoint(Type::kPurchase, "e1", 10));
  Apply(MakeTouchpoint(Type::kPurchase, "e2", 2));  // arrives late
  Apply(MakeTouchpoint(Type::kContact, "e3", 1));
  EXPECT_EQ(state_.first_purchase, Day(2));
  EXPECT_EQ(state_.last_purchase, Day(10));
  EXPECT_EQ(state_.first_seen, Day(1));
  EXPECT_EQ(state_.last_seen, Day(10));
  EXPECT_EQ(state_.purchase_days,
            (std::vector<std::int32_t>{DayNumber(Day(2)), DayNumber(Day(10))}));
}

TEST_F(CustomerStateTest, ReturnComplaintCancellationCampaignAndContact) {
  Touchpoint ret = MakeTouchpoint(Type::kReturn, "r", 1);
  ret.amount = 7;
  ret.product = "TV";
  Apply(ret);
  Apply(MakeTouchpoint(Type::kComplaint, "k", 2, Channel::kPhone));
  Touchpoint cancel = MakeTouchpoint(Type::kCancellation, "x", 3, Channel::kPhone);
  cancel.product = "TV";
  Apply(cancel);
  Touchpoint campaign = MakeTouchpoint(Type::kCampaignResponse, "m", 4, Channel::kEmail);
  campaign.product = "OFFER";
  Apply(campaign);
  Touchpoint view = MakeTouchpoint(Type::kContact, "v", 5, Channel::kKiosk);
  view.product = "OFFER";
  Apply(view);

  EXPECT_EQ(state_.returns, 1u);
  EXPECT_DOUBLE_EQ(state_.return_amount, 7);
  EXPECT_EQ(state_.complaints, 1u);
  ASSERT_EQ(state_.recent_complaints.size(), 1u);
  EXPECT_EQ(state_.recent_complaints[0], Day(2));
  EXPECT_EQ(state_.cancellations, 1u);
  EXPECT_EQ(state_.last_cancellation, Day(3));
  EXPECT_EQ(state_.campaign_responses, 1u);
  EXPECT_EQ(state_.products.at("TV").returns, 1u);
  EXPECT_EQ(state_.products.at("TV").cancellations, 1u);
  EXPECT_EQ(state_.products.at("OFFER").interactions, 2u);
  EXPECT_EQ(state_.channel(Channel::kPhone).contacts, 2u);
  EXPECT_EQ(state_.events_applied, 5u);
}

TEST_F(CustomerStateTest, SurveysKeepTheLatestScoresByEventTime) {
  limits_.recent_satisfaction = 2;
  for (auto [id, day, score] : {std::tuple{"s1", 1.0, 9}, {"s2", 5.0, 2}, {"s3", 3.0, 6}}) {
    Touchpoint tp = MakeTouchpoint(Type::kSurvey, id, day, Channel::kEmail);
    tp.satisfaction = score;
    Apply(tp);
  }
  EXPECT_EQ(state_.surveys, 3u);
  ASSERT_EQ(state_.recent_satisfaction.size(), 2u);
  EXPECT_EQ(state_.recent_satisfaction[0], (SatisfactionSample{Day(5), 2}));
  EXPECT_EQ(state_.recent_satisfaction[1], (SatisfactionSample{Day(3), 6}));
}

TEST_F(CustomerStateTest, ConsentInForceIsTheLatestByEventTime) {
  Touchpoint opt_out = MakeTouchpoint(Type::kConsent, "c2", 5, Channel::kEmail);
  opt_out.consent_granted = false;
  Apply(opt_out);
  Apply(MakeTouchpoint(Type::kConsent, "c1", 2, Channel::kEmail));  // older opt-in, late
  EXPECT_EQ(state_.channel(Channel::kEmail).consent, false);
  EXPECT_EQ(state_.channel(Channel::kEmail).consent_at, Day(5));
  // Consent is not channel activity.
  EXPECT_EQ(state_.channel(Channel::kEmail).contacts, 0u);
  Apply(MakeTouchpoint(Type::kConsent, "c3", 6, Channel::kEmail));
  EXPECT_EQ(state_.channel(Channel::kEmail).consent, true);
  EXPECT_FALSE(state_.channel(Channel::kSms).consent.has_value());
}

TEST_F(CustomerStateTest, ProfileFieldsKeepTheLatestValueByEventTime) {
  Touchpoint newer = MakeTouchpoint(Type::kProfile, "p1", 5);
  newer.attributes = {{"city", "Lyon"}, {"age_band", "30"}};
  Apply(newer);
  Touchpoint older = MakeTouchpoint(Type::kProfile, "p2", 1);
  older.attributes = {{"city", "Paris"}, {"segment", "student"}};
  Apply(older);
  EXPECT_EQ(state_.profile.at("city").value, "Lyon");
  EXPECT_EQ(state_.profile.at("age_band").value, "30");
  EXPECT_EQ(state_.profile.at("segment").value, "student");
  EXPECT_EQ(state_.channel(Channel::kWeb).contacts, 0u);
}

TEST_F(CustomerStateTest, DuplicateEventIdIsSkippedAndLeavesStateUnchanged) {
  Apply(MakeTouchpoint(Type::kPurchase, "e1", 1));
  const CustomerState before = state_;
  Touchpoint again = MakeTouchpoint(Type::kPurchase, "e1", 1);
  again.amount = 999;
  EXPECT_EQ(Apply(again), ApplyOutcome::kDuplicate);
  EXPECT_EQ(state_.events_applied, before.events_applied);
  EXPECT_EQ(state_.purchase_amount, before.purchase_amount);
  EXPECT_EQ(state_.recent_events, before.recent_events);
}

// The documented bound: an id is forgotten after `dedup_window` newer distinct ids.
TEST_F(CustomerStateTest, DuplicateOlderThanTheWindowIsAppliedAgain) {
  limits_.dedup_window = 3;
  Apply(MakeTouchpoint(Type::kContact, "a", 1));
  Apply(MakeTouchpoint(Type::kContact, "b", 2));
  Apply(MakeTouchpoint(Type::kContact, "c", 3));
  EXPECT_EQ(Apply(MakeTouchpoint(Type::kContact, "a", 1)), ApplyOutcome::kDuplicate);
  Apply(MakeTouchpoint(Type::kContact, "d", 4));  // "a" leaves the window
  EXPECT_EQ(Apply(MakeTouchpoint(Type::kContact, "b", 2)), ApplyOutcome::kDuplicate);
  EXPECT_EQ(Apply(MakeTouchpoint(Type::kContact, "a", 1)), ApplyOutcome::kApplied);
}

TEST_F(CustomerStateTest, LoweringTheWindowKeepsTheNewestIds) {
  limits_.dedup_window = 4;
  for (const char* id : {"a", "b", "c", "d", "e"}) Apply(MakeTouchpoint(Type::kContact, id, 1));
  limits_.dedup_window = 2;
  Apply(MakeTouchpoint(Type::kContact, "f", 1));
  EXPECT_EQ(state_.recent_events.ring().size(), 2u);
  EXPECT_EQ(Apply(MakeTouchpoint(Type::kContact, "f", 1)), ApplyOutcome::kDuplicate);
  EXPECT_EQ(Apply(MakeTouchpoint(Type::kContact, "e", 1)), ApplyOutcome::kDuplicate);
  EXPECT_EQ(Apply(MakeTouchpoint(Type::kContact, "d", 1)), ApplyOutcome::kApplied);
}

TEST_F(CustomerStateTest, ProductsAreBoundedDroppingTheLeastRecentlyActive) {
  limits_.max_products = 2;
  for (auto [id, product, day] : {std::tuple{"1", "A", 1.0}, {"2", "B", 5.0}, {"3", "C", 3.0}}) {
    Touchpoint tp = MakeTouchpoint(Type::kContact, id, day);
    tp.product = product;
    Apply(tp);
  }
  EXPECT_EQ(state_.products.size(), 2u);
  EXPECT_FALSE(state_.products.contains("A"));
  EXPECT_TRUE(state_.products.contains("B"));
  EXPECT_TRUE(state_.products.contains("C"));
  Touchpoint old = MakeTouchpoint(Type::kContact, "4", 0.5);  // older than all kept
  old.product = "D";
  Apply(old);
  EXPECT_FALSE(state_.products.contains("D"));
}

TEST(EventIdHashTest, IsStableFnv1a64) {
  EXPECT_EQ(EventIdHash(""), 14695981039346656037ULL);
  EXPECT_EQ(EventIdHash("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_NE(EventIdHash("ab"), EventIdHash("ba"));
}

}  // namespace
}  // namespace crm
