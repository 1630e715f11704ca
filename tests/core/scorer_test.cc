#include "core/scorer.h"

#include <gtest/gtest.h>

#include "tests/core/test_touchpoints.h"

namespace crm {
namespace {

using testing::Day;
using testing::MakeTouchpoint;
using Type = TouchpointType;

class ScorerTest : public ::testing::Test {
 protected:
  void Purchase(const std::string& id, double day, double amount, std::string product = "P") {
    Touchpoint tp = MakeTouchpoint(Type::kPurchase, id, day);
    tp.amount = amount;
    tp.product = std::move(product);
    ApplyTouchpoint(tp, StateLimits{}, state_);
  }
  void Touch(const std::string& id, double day, Channel channel, Type type = Type::kContact) {
    ApplyTouchpoint(MakeTouchpoint(type, id, day, channel), StateLimits{}, state_);
  }
  Scores ScoreAt(double day) const { return scorer_.Score(CustomerId("c1"), state_, Day(day)); }

  CustomerState state_;
  Scorer scorer_{Model{}};
};

TEST_F(ScorerTest, ProspectHasNoRecencyAndIsAProspect) {
  Touch("v", 1, Channel::kWeb);
  const Scores scores = ScoreAt(10);
  EXPECT_EQ(scores.rfm.recency_days, -1);
  EXPECT_EQ(scores.rfm.frequency, 0u);
  EXPECT_EQ(scores.rfm.monetary, 0);
  EXPECT_EQ(scores.lifecycle_stage, LifecycleStage::kProspect);
  EXPECT_EQ(scores.events_applied, 1u);
  EXPECT_EQ(scores.model_version, Model{}.version);
  EXPECT_EQ(scores.customer_id, CustomerId("c1"));
  EXPECT_EQ(scores.as_of, Day(10));
}

TEST_F(ScorerTest, RfmIsMeasuredAsOfTheGivenMoment) {
  Purchase("p1", 1, 30, "A");
  Purchase("p2", 1.5, 20, "B");  // same day: one transaction
  Purchase("p3", 11, 50, "A");
  Touchpoint ret = MakeTouchpoint(Type::kReturn, "r", 12);
  ret.amount = 10;
  ApplyTouchpoint(ret, StateLimits{}, state_);
  const Scores scores = ScoreAt(21);
  EXPECT_DOUBLE_EQ(scores.rfm.recency_days, 10);
  EXPECT_EQ(scores.rfm.frequency, 2u);
  EXPECT_EQ(scores.rfm.purchases, 3u);
  EXPECT_DOUBLE_EQ(scores.rfm.revenue, 90);
  EXPECT_DOUBLE_EQ(scores.rfm.monetary, 45);
  EXPECT_EQ(scores.rfm.product_types, 2u);
  EXPECT_DOUBLE_EQ(ScoreAt(11).rfm.recency_days, 0);
  EXPECT_DOUBLE_EQ(ScoreAt(5).rfm.recency_days, 0);  // as_of before the last purchase
}

TEST_F(ScorerTest, LifecycleFollowsTheCustomersOwnRhythm) {
  const LifecycleParams p;  // maturity 3, factor 2.5, min 30 days, single 90 days
  Purchase("p1", 0, 10);
  EXPECT_EQ(Lifecycle(state_, Day(80), p), LifecycleStage::kDevelopment);
  EXPECT_EQ(Lifecycle(state_, Day(91), p), LifecycleStage::kDecline);
  Purchase("p2", 20, 10);
  EXPECT_EQ(Lifecycle(state_, Day(25), p), LifecycleStage::kDevelopment);
  Purchase("p3", 40, 10);  // every 20 days: decline after max(30, 50) idle days
  EXPECT_EQ(Lifecycle(state_, Day(45), p), LifecycleStage::kMaturity);
  EXPECT_EQ(Lifecycle(state_, Day(89), p), LifecycleStage::kMaturity);
  EXPECT_EQ(Lifecycle(state_, Day(91), p), LifecycleStage::kDecline);
}

TEST_F(ScorerTest, FastBuyersDeclineNoSoonerThanTheMinimum) {
  for (int day = 0; day < 5; ++day) Purchase("p" + std::to_string(day), day, 10);
  const LifecycleParams p;
  EXPECT_EQ(Lifecycle(state_, Day(4 + 29), p), LifecycleStage::kMaturity);
  EXPECT_EQ(Lifecycle(state_, Day(4 + 31), p), LifecycleStage::kDecline);
}

TEST_F(ScorerTest, PreferredChannelIsTheMostUsedThenTheMostRecent) {
  EXPECT_EQ(PreferredChannel(state_), Channel::kUnspecified);
  Touch("1", 1, Channel::kPhone);
  Touch("2", 2, Channel::kWeb);
  Touch("3", 3, Channel::kWeb);
  Touch("4", 4, Channel::kEmail, Type::kConsent);  // consent is not use
  Touch("5", 5, Channel::kEmail, Type::kConsent);
  EXPECT_EQ(PreferredChannel(state_), Channel::kWeb);
  Touch("6", 6, Channel::kPhone);  // a tie: the most recent wins
  EXPECT_EQ(PreferredChannel(state_), Channel::kPhone);
  EXPECT_EQ(ScoreAt(7).preferred_channel, Channel::kPhone);
}

TEST(LifecycleNamesTest, AreTheContractStrings) {
  EXPECT_EQ(LifecycleStageName(LifecycleStage::kProspect), "PROSPECT");
  EXPECT_EQ(LifecycleStageName(LifecycleStage::kDevelopment), "DEVELOPMENT");
  EXPECT_EQ(LifecycleStageName(LifecycleStage::kMaturity), "MATURITY");
  EXPECT_EQ(LifecycleStageName(LifecycleStage::kDecline), "DECLINE");
}

}  // namespace
}  // namespace crm
