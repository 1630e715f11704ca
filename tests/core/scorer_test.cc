#include "core/scorer.h"

#include <gtest/gtest.h>

#include <string>

#include "core/customer_state.h"
#include "core/model.h"
#include "core/time.h"
#include "core/touchpoint.h"
#include "tests/core/test_touchpoints.h"

namespace crm {
namespace {

using testing::Day;
using testing::MakeTouchpoint;
using Type = TouchpointType;

class ScorerTest : public ::testing::Test {
 protected:
  void Apply(const Touchpoint& tp) {
    ASSERT_EQ(ApplyTouchpoint(tp, StateLimits{}, state_), ApplyOutcome::kApplied);
  }
  void Purchase(double day, double amount = 10, std::string product = "P") {
    Touchpoint tp = MakeTouchpoint(Type::kPurchase, NextId(), day);
    tp.amount = amount;
    tp.product = std::move(product);
    Apply(tp);
  }
  void Return(double day, double amount, std::string product = "P") {
    Touchpoint tp = MakeTouchpoint(Type::kReturn, NextId(), day);
    tp.amount = amount;
    tp.product = std::move(product);
    Apply(tp);
  }
  void Touch(double day, Channel channel, Type type = Type::kContact) {
    Apply(MakeTouchpoint(type, NextId(), day, channel));
  }
  Scores ScoreAt(double day) const { return scorer_.Score(CustomerId("c1"), state_, Day(day)); }
  LifecycleStage StageAt(double day, const LifecycleParams& params = LifecycleParams{}) const {
    return Lifecycle(state_, Day(day), params);
  }

  CustomerState state_;
  Scorer scorer_{Model{}};

 private:
  std::string NextId() { return "e" + std::to_string(next_id_++); }
  int next_id_ = 0;
};

// --- RFM -------------------------------------------------------------------

TEST_F(ScorerTest, NeverBoughtHasRecencyMinusOneAndNoFrequencyOrValue) {
  Touch(1, Channel::kWeb);
  Return(2, 15);  // a return alone is not a purchase
  const Scores scores = ScoreAt(10);
  EXPECT_EQ(scores.rfm.recency_days, -1);
  EXPECT_EQ(scores.rfm.frequency, 0u);
  EXPECT_EQ(scores.rfm.purchases, 0u);
  EXPECT_EQ(scores.rfm.monetary, 0);
  EXPECT_DOUBLE_EQ(scores.rfm.revenue, -15);
  EXPECT_EQ(scores.rfm.product_types, 0u);
}

TEST_F(ScorerTest, RecencyIsFractionalDaysFromTheLastPurchaseToAsOf) {
  Purchase(1);
  Purchase(11);
  EXPECT_DOUBLE_EQ(ScoreAt(21).rfm.recency_days, 10);
  EXPECT_DOUBLE_EQ(ScoreAt(21.5).rfm.recency_days, 10.5);
  EXPECT_DOUBLE_EQ(ScoreAt(11).rfm.recency_days, 0);
  // as_of before the last purchase: the later event still counts, recency is 0.
  const Scores early = ScoreAt(5);
  EXPECT_DOUBLE_EQ(early.rfm.recency_days, 0);
  EXPECT_EQ(early.rfm.frequency, 2u);
}

TEST_F(ScorerTest, FrequencyIsDistinctPurchaseDaysAndMonetaryIsNetRevenuePerTransaction) {
  Purchase(1.2, 30, "A");
  Purchase(1.7, 20, "B");  // the same day: one transaction
  Purchase(11, 50, "A");
  Return(12, 10, "A");
  const Scores scores = ScoreAt(21);
  EXPECT_EQ(scores.rfm.frequency, 2u);
  EXPECT_EQ(scores.rfm.purchases, 3u);
  EXPECT_DOUBLE_EQ(scores.rfm.revenue, 90);   // 100 bought - 10 returned
  EXPECT_DOUBLE_EQ(scores.rfm.monetary, 45);  // 90 / 2 transactions
}

TEST_F(ScorerTest, ProductTypesCountsOnlyProductsBought) {
  Purchase(1, 10, "A");
  Purchase(2, 10, "B");
  Purchase(3, 10, "B");
  Return(4, 5, "C");  // returned, never bought here
  Touchpoint viewed = MakeTouchpoint(Type::kContact, "v", 5);
  viewed.product = "D";
  Apply(viewed);
  EXPECT_EQ(ScoreAt(6).rfm.product_types, 2u);
}

TEST_F(ScorerTest, ScoresCarryTheCustomerTheMomentTheEventsAndTheModelVersion) {
  Touch(1, Channel::kWeb);
  Touch(2, Channel::kWeb, Type::kConsent);
  Touch(3, Channel::kWeb, Type::kProfile);
  const Scores scores = ScoreAt(10);
  EXPECT_EQ(scores.customer_id, CustomerId("c1"));
  EXPECT_EQ(scores.as_of, Day(10));
  EXPECT_EQ(scores.events_applied, 3u);
  EXPECT_EQ(scores.model_version, "builtin-1");

  Model model;
  model.version = "rfm-2026-11";
  const Scorer versioned(model);
  EXPECT_EQ(versioned.model().version, "rfm-2026-11");
  EXPECT_EQ(versioned.Score(CustomerId("c1"), state_, Day(10)).model_version, "rfm-2026-11");
}

// --- Lifecycle -------------------------------------------------------------

TEST_F(ScorerTest, WithoutAPurchaseTheCustomerIsAProspect) {
  EXPECT_EQ(StageAt(1), LifecycleStage::kProspect);
  Touch(1, Channel::kPhone);
  Touch(2, Channel::kPhone, Type::kComplaint);
  Return(3, 5);
  EXPECT_EQ(StageAt(500), LifecycleStage::kProspect);
  EXPECT_EQ(ScoreAt(500).lifecycle_stage, LifecycleStage::kProspect);
}

TEST_F(ScorerTest, ASinglePurchaseCustomerDevelopsThenDeclinesAfter90Days) {
  const LifecycleParams p;
  ASSERT_EQ(p.single_purchase_decline_days, 90);
  Purchase(0);
  EXPECT_EQ(StageAt(0), LifecycleStage::kDevelopment);
  EXPECT_EQ(StageAt(90), LifecycleStage::kDevelopment);  // "after": strictly more than 90
  EXPECT_EQ(StageAt(90.01), LifecycleStage::kDecline);
  Purchase(0.5);  // the same day: still one transaction, but the idle time restarts
  EXPECT_EQ(StageAt(90.01), LifecycleStage::kDevelopment);
}

TEST_F(ScorerTest, RepeatCustomersDeclineAfterTheirOwnRhythmTimesTheFactor) {
  const LifecycleParams p;  // maturity 3, factor 2.5, min 30 days
  Purchase(0);
  Purchase(20);  // two transactions 20 days apart: decline after max(30, 2.5 * 20) = 50
  EXPECT_EQ(StageAt(25), LifecycleStage::kDevelopment);
  EXPECT_EQ(StageAt(70), LifecycleStage::kDevelopment);
  EXPECT_EQ(StageAt(70.01), LifecycleStage::kDecline);
  Purchase(40);  // three: mature; the rhythm is still 20 days
  EXPECT_EQ(StageAt(45), LifecycleStage::kMaturity);
  EXPECT_EQ(StageAt(90), LifecycleStage::kMaturity);
  EXPECT_EQ(StageAt(90.01), LifecycleStage::kDecline);
  EXPECT_EQ(ScoreAt(91).lifecycle_stage, LifecycleStage::kDecline);
}

TEST_F(ScorerTest, FastBuyersDeclineNoSoonerThanTheMinimumDays) {
  for (int day = 0; day < 5; ++day) Purchase(day);  // every day: 2.5 * 1 < 30
  EXPECT_EQ(StageAt(4 + 30), LifecycleStage::kMaturity);
  EXPECT_EQ(StageAt(4 + 30.01), LifecycleStage::kDecline);
}

TEST_F(ScorerTest, LifecycleUsesTheModelsThresholds) {
  LifecycleParams p;
  p.maturity_min_transactions = 2;
  p.decline_rhythm_factor = 1;
  p.decline_min_days = 5;
  p.single_purchase_decline_days = 10;
  Purchase(0);
  EXPECT_EQ(StageAt(10, p), LifecycleStage::kDevelopment);
  EXPECT_EQ(StageAt(10.5, p), LifecycleStage::kDecline);
  Purchase(2);  // rhythm 2 days: decline after max(5, 1 * 2) = 5 idle days
  EXPECT_EQ(StageAt(7, p), LifecycleStage::kMaturity);
  EXPECT_EQ(StageAt(7.5, p), LifecycleStage::kDecline);

  Model model;
  model.lifecycle = p;
  const Scorer scorer(model);
  EXPECT_EQ(scorer.Score(CustomerId("c1"), state_, Day(7)).lifecycle_stage,
            LifecycleStage::kMaturity);
  EXPECT_EQ(scorer.Score(CustomerId("c1"), state_, Day(7.5)).lifecycle_stage,
            LifecycleStage::kDecline);
  // The default model would still see a developing customer.
  EXPECT_EQ(ScoreAt(7.5).lifecycle_stage, LifecycleStage::kDevelopment);
}

TEST_F(ScorerTest, LatePurchasesCountInTheRhythm) {
  Purchase(40);
  Purchase(0);  // late: the span is 40 days over one interval
  EXPECT_EQ(StageAt(140), LifecycleStage::kDevelopment);  // 100 idle = 2.5 * 40
  EXPECT_EQ(StageAt(140.01), LifecycleStage::kDecline);
}

// --- Preferred channel -----------------------------------------------------

TEST_F(ScorerTest, PreferredChannelIsTheMostUsed) {
  EXPECT_EQ(PreferredChannel(state_), Channel::kUnspecified);
  Touch(1, Channel::kPhone);
  Touch(2, Channel::kWeb);
  Touch(3, Channel::kWeb, Type::kPurchase);  // any touchpoint on a channel is use
  Touch(4, Channel::kPhone);
  Touch(5, Channel::kWeb, Type::kComplaint);
  EXPECT_EQ(PreferredChannel(state_), Channel::kWeb);
  EXPECT_EQ(ScoreAt(6).preferred_channel, Channel::kWeb);
}

TEST_F(ScorerTest, PreferredChannelTieGoesToTheMostRecent) {
  Touch(5, Channel::kPhone);
  Touch(1, Channel::kMail);
  Touch(2, Channel::kMail);
  Touch(3, Channel::kPhone);  // 2 - 2; phone last used on day 5
  EXPECT_EQ(PreferredChannel(state_), Channel::kPhone);
  Touch(6, Channel::kMail);  // 3 - 2
  EXPECT_EQ(PreferredChannel(state_), Channel::kMail);
  Touch(4, Channel::kPhone);  // 3 - 3, mail last used on day 6 (a late phone call)
  EXPECT_EQ(PreferredChannel(state_), Channel::kMail);
}

TEST_F(ScorerTest, ConsentAndProfileAreNotChannelUse) {
  Touch(1, Channel::kWeb);
  Touch(2, Channel::kEmail, Type::kConsent);
  Touch(3, Channel::kEmail, Type::kConsent);
  Touch(4, Channel::kEmail, Type::kProfile);
  EXPECT_EQ(PreferredChannel(state_), Channel::kWeb);

  CustomerState consent_only;
  ApplyTouchpoint(MakeTouchpoint(Type::kConsent, "c", 1, Channel::kSms), StateLimits{},
                  consent_only);
  EXPECT_EQ(PreferredChannel(consent_only), Channel::kUnspecified);
}

// README and the code count a campaign response as one touchpoint on its
// channel; core/scorer.h's comment on PreferredChannel says it counts double.
TEST_F(ScorerTest, CampaignResponsesCountAsOneTouchpointEach) {
  Touch(1, Channel::kPhone);
  Touch(2, Channel::kPhone);
  Touch(3, Channel::kEmail, Type::kCampaignResponse);  // double would tie, and win as latest
  EXPECT_EQ(PreferredChannel(state_), Channel::kPhone);
}

TEST(LifecycleStageNameTest, AreTheContractStrings) {
  EXPECT_EQ(LifecycleStageName(LifecycleStage::kProspect), "PROSPECT");
  EXPECT_EQ(LifecycleStageName(LifecycleStage::kDevelopment), "DEVELOPMENT");
  EXPECT_EQ(LifecycleStageName(LifecycleStage::kMaturity), "MATURITY");
  EXPECT_EQ(LifecycleStageName(LifecycleStage::kDecline), "DECLINE");
}

}  // namespace
}  // namespace crm
