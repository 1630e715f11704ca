#include "core/scorer.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/bgnbd.h"
#include "core/customer_state.h"
#include "core/features.h"
#include "core/gamma_gamma.h"
#include "core/model.h"
#include "core/population.h"
#include "core/reasons.h"
#include "core/time.h"
#include "core/touchpoint.h"
#include "tests/core/bgnbd_model.h"
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
  // The stage, the purchase model's P(alive) taken as `p_alive`.
  LifecycleStage StageAt(double day, const LifecycleParams& params = LifecycleParams{},
                         double p_alive = 1) const {
    return Lifecycle(state_, Day(day), p_alive, params);
  }

  CustomerState state_;
  Scorer scorer_{BuiltInBgNbdModel()};

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
  EXPECT_EQ(scores.model_version, "builtin-2");

  Model model;
  model.version = "rfm-2026-11";
  const Scorer versioned(model);
  EXPECT_EQ(versioned.model().version, "rfm-2026-11");
  EXPECT_EQ(versioned.Score(CustomerId("c1"), state_, Day(10)).model_version, "rfm-2026-11");
}

// --- What a prospect and a customer are worth ------------------------------

TEST_F(ScorerTest, AProspectHasNoChurnNothingAtRiskAndStillAnAppetence) {
  Model model = BuiltInBgNbdModel();
  model.appetence.push_back({.product = "P", .category = "", .logistic = {.intercept = -1}});
  const Scorer scorer(model);
  Touch(1, Channel::kWeb);
  const Scores prospect = scorer.Score(CustomerId("c1"), state_, Day(30));
  EXPECT_FALSE(prospect.churn.has_value());
  EXPECT_EQ(prospect.value_at_risk, 0);
  EXPECT_TRUE(prospect.reasons.empty());
  EXPECT_EQ(prospect.lifecycle_stage, LifecycleStage::kProspect);
  EXPECT_NEAR(prospect.appetence.at("P"), 1 / (1 + std::exp(1.0)), 1e-12);
  Purchase(31, 50);
  const Scores customer = scorer.Score(CustomerId("c1"), state_, Day(40));
  ASSERT_TRUE(customer.churn.has_value());
  EXPECT_GT(customer.value_at_risk, 0);
}

TEST_F(ScorerTest, ValueAtRiskIsChurnTimesTheClvIfTheCustomerStays) {
  Purchase(0, 100);
  Purchase(20, 60);
  Purchase(45, 80);
  const Scores scores = ScoreAt(120);
  const CustomerFacts facts = FactsOf(state_, Day(120), scorer_.model());
  ASSERT_GT(facts.clv_if_active, facts.clv);  // P(alive) < 1
  EXPECT_DOUBLE_EQ(scores.value_at_risk, *scores.churn * facts.clv_if_active);
  // A customer who spends ten times more has more at risk at the same rhythm.
  CustomerState richer = state_;
  richer.purchase_amount *= 10;
  richer.first_day_amount *= 10;
  EXPECT_GT(scorer_.Score(CustomerId("c2"), richer, Day(120)).value_at_risk,
            5 * scores.value_at_risk);
}

TEST_F(ScorerTest, LifetimeValueIsPastProfitNetOfTheCostToServePlusThePotential) {
  Purchase(0, 100);  // a purchase touchpoint on the web: a contact there
  Purchase(20, 60);
  Return(25, 10);
  Touch(26, Channel::kPhone);
  Touch(27, Channel::kPhone, Type::kComplaint);
  const ValueParams& v = scorer_.model().value;
  const double phone = v.contact_cost[static_cast<int>(Channel::kPhone)];
  const double web = v.contact_cost[static_cast<int>(Channel::kWeb)];
  const Scores scores = ScoreAt(40);
  // MakeTouchpoint's purchases and returns are on the web.
  EXPECT_DOUBLE_EQ(scores.cost_to_serve, 3 * web + 2 * phone + v.return_cost + v.complaint_cost);
  EXPECT_DOUBLE_EQ(scores.lifetime_value,
                   scores.past_profitability - scores.cost_to_serve + scores.clv);
  EXPECT_DOUBLE_EQ(scores.past_profitability, 0.3 * 150);
}

TEST_F(ScorerTest, ContactabilitySatisfactionAndComplaintsAreInTheScores) {
  Purchase(0, 100);
  EXPECT_TRUE(ScoreAt(1).contactable_channels.empty());
  EXPECT_FALSE(ScoreAt(1).latest_satisfaction.has_value());
  Touchpoint consent = MakeTouchpoint(Type::kConsent, "c-1", 2, Channel::kSms);
  consent.consent_granted = true;
  Apply(consent);
  consent = MakeTouchpoint(Type::kConsent, "c-2", 2, Channel::kEmail);
  consent.consent_granted = true;
  Apply(consent);
  consent = MakeTouchpoint(Type::kConsent, "c-3", 3, Channel::kSms);
  consent.consent_granted = false;  // withdrawn
  Apply(consent);
  Touchpoint survey = MakeTouchpoint(Type::kSurvey, "s-1", 4, Channel::kWeb);
  survey.satisfaction = 3;
  Apply(survey);
  Touch(5, Channel::kPhone, Type::kComplaint);
  Touch(100, Channel::kPhone, Type::kComplaint);
  const Scores scores = ScoreAt(101);
  EXPECT_EQ(scores.contactable_channels, std::vector<Channel>{Channel::kEmail});
  EXPECT_EQ(scores.latest_satisfaction, 3);
  EXPECT_EQ(scores.complaints_90d, 1u);  // the one of day 5 is 96 days old
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

TEST_F(ScorerTest, LostWhenThePurchaseModelHoldsTheCustomerGone) {
  LifecycleParams p;
  ASSERT_EQ(p.lost_p_alive, 0.1);
  EXPECT_EQ(StageAt(10, p, 0), LifecycleStage::kProspect);  // nothing bought, nothing lost
  Purchase(0);
  Purchase(20);
  EXPECT_EQ(StageAt(25, p, 0.0999), LifecycleStage::kLost);
  EXPECT_EQ(StageAt(25, p, 0.1), LifecycleStage::kDevelopment);
  EXPECT_EQ(StageAt(200, p, 0.1), LifecycleStage::kDecline);
  p.lost_p_alive = 0;  // never lost
  EXPECT_EQ(StageAt(200, p, 0), LifecycleStage::kDecline);
}

// With the built-in purchase model (Pareto/NBD), silence means something.
TEST(LostTest, TheBuiltInModelTellsLeavingFromLost) {
  const Scorer scorer{Model{}};
  const auto with_purchases = [](std::initializer_list<double> days) {
    CustomerState state;
    int n = 0;
    for (double day : days) {
      Touchpoint tp = MakeTouchpoint(Type::kPurchase, "p" + std::to_string(n++), day);
      tp.amount = 40;
      ApplyTouchpoint(tp, StateLimits{}, state);
    }
    return state;
  };
  const CustomerId id("c1");
  // A one-time buyer a year ago is no longer "surely alive".
  const Scores once = scorer.Score(id, with_purchases({0}), Day(365));
  EXPECT_LT(once.p_alive, 0.5);
  // Three purchases three weeks apart, then silent for 50 weeks: lost.
  const CustomerState steady = with_purchases({0, 21, 42});
  const Scores gone = scorer.Score(id, steady, Day(42 + 50 * 7));
  EXPECT_EQ(gone.lifecycle_stage, LifecycleStage::kLost) << gone.p_alive;
  // The same customer having missed two purchases: leaving, not lost.
  const Scores leaving = scorer.Score(id, steady, Day(42 + 3 * 21 + 1));
  EXPECT_EQ(leaving.lifecycle_stage, LifecycleStage::kDecline) << leaving.p_alive;
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

// docs/scores-and-models.md and the code count a campaign response as one touchpoint on its
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

// --- Value, churn and appetence scores ---------------------------------------

// A regular customer: a purchase every 14 days from day 0 to day 126.
void RegularBuyer(CustomerState& state) {
  for (int i = 0; i < 10; ++i) {
    Touchpoint tp = MakeTouchpoint(Type::kPurchase, "p" + std::to_string(i), 14.0 * i);
    tp.amount = 40 + i;
    tp.product = "P";
    ASSERT_EQ(ApplyTouchpoint(tp, StateLimits{}, state), ApplyOutcome::kApplied);
  }
}

TEST_F(ScorerTest, ScoreFillsTheModelBasedValues) {
  Purchase(0, 100);
  Purchase(20, 60);
  Purchase(45, 80);
  Return(50, 30);
  const Model& model = scorer_.model();
  const Scores scores = ScoreAt(70);
  const BgNbdHistory h = PurchaseHistoryOf(state_, Day(70), model.purchase);
  EXPECT_DOUBLE_EQ(h.x, 2);
  EXPECT_DOUBLE_EQ(h.t_x, 45.0 / 7);
  EXPECT_DOUBLE_EQ(h.T, 10);
  EXPECT_DOUBLE_EQ(scores.p_alive, BgNbdProbabilityAlive(model.purchase.bgnbd, h));
  EXPECT_DOUBLE_EQ(scores.expected_purchases,
                   BgNbdExpectedTransactions(model.purchase.bgnbd, h, 90.0 / 7));
  EXPECT_DOUBLE_EQ(scores.churn_horizon_days, 90);
  EXPECT_DOUBLE_EQ(scores.expected_spend,
                   GammaGammaExpectedSpend(model.purchase.gamma_gamma, 2, 70));  // (60 + 80) / 2
  EXPECT_DOUBLE_EQ(scores.past_profitability, 0.3 * 210);
  // Net of returns: 210 of the 240 bought were kept.
  EXPECT_NEAR(scores.clv,
              scores.p_alive * ClvIfActive(h, scores.expected_spend, model.purchase, model.value) *
                  210 / 240,
              1e-9);
  EXPECT_GT(scores.clv, 0);
  const ValueQuadrant q = QuadrantOf(scores.past_profitability, scores.clv, model.value);
  EXPECT_EQ(scores.quadrant, q);
  EXPECT_EQ(scores.quadrant, q);
  ASSERT_TRUE(scores.churn.has_value());
  EXPECT_GT(*scores.churn, 0);
  EXPECT_LT(*scores.churn, 1);
  const LogisticScore churn = EvaluateLogistic(model.churn.logistic, kChurnFeatureNames,
                                               ChurnFeatures(FactsOf(state_, Day(70), model)));
  EXPECT_DOUBLE_EQ(*scores.churn, churn.probability);
  EXPECT_EQ(scores.model_version, "builtin-2");

  Model other = BuiltInBgNbdModel();
  other.version = "m-7";
  other.churn.horizon_days = 30;
  const Scores versioned = Scorer(other).Score(CustomerId("c1"), state_, Day(70));
  EXPECT_EQ(versioned.model_version, "m-7");
  EXPECT_DOUBLE_EQ(versioned.churn_horizon_days, 30);
  EXPECT_DOUBLE_EQ(versioned.expected_purchases,
                   BgNbdExpectedTransactions(other.purchase.bgnbd, h, 30.0 / 7));
}

// The ask: with the built-in model, silence means something. A
// customer who bought once, a year ago, is probably gone (BG/NBD, which only
// lets a customer drop out at a repeat purchase, held them alive for sure).
TEST(BuiltInModelTest, AOneTimeBuyerOfAYearAgoIsProbablyNotAlive) {
  CustomerState state;
  Touchpoint tp = MakeTouchpoint(Type::kPurchase, "once", 0);
  tp.amount = 40;
  ApplyTouchpoint(tp, StateLimits{}, state);
  const Scores scores = Scorer(Model{}).Score(CustomerId("c1"), state, Day(364));
  EXPECT_LT(scores.p_alive, 0.5);
  EXPECT_GT(scores.p_alive, 0);
  // A week after the purchase they were still likely alive.
  EXPECT_GT(Scorer(Model{}).Score(CustomerId("c1"), state, Day(7)).p_alive, 0.9);
}

TEST(QuadrantOfTest, ThresholdsAreInclusive) {
  ValueParams p;
  p.profitability_threshold = 50;
  p.potential_threshold = 80;
  EXPECT_EQ(QuadrantOf(50, 80, p), ValueQuadrant::kDesirable);
  EXPECT_EQ(QuadrantOf(49.999, 80, p), ValueQuadrant::kUnderDeveloped);
  EXPECT_EQ(QuadrantOf(50, 79.999, p), ValueQuadrant::kMature);
  EXPECT_EQ(QuadrantOf(49.999, 79.999, p), ValueQuadrant::kUndesirable);
  EXPECT_EQ(QuadrantOf(-10, 0, p), ValueQuadrant::kUndesirable);
  EXPECT_EQ(ValueQuadrantName(ValueQuadrant::kDesirable), "DESIRABLE");
  EXPECT_EQ(ValueQuadrantName(ValueQuadrant::kUnderDeveloped), "UNDER_DEVELOPED");
  EXPECT_EQ(ValueQuadrantName(ValueQuadrant::kMature), "MATURE");
  EXPECT_EQ(ValueQuadrantName(ValueQuadrant::kUndesirable), "UNDESIRABLE");
  EXPECT_EQ(ValueStrategy(ValueQuadrant::kDesirable), "RETAIN");
  EXPECT_EQ(ValueStrategy(ValueQuadrant::kUnderDeveloped), "DEVELOP");
  EXPECT_EQ(ValueStrategy(ValueQuadrant::kMature), "RATIONALISE");
  EXPECT_EQ(ValueStrategy(ValueQuadrant::kUndesirable), "ABANDON");
}

TEST_F(ScorerTest, TheQuadrantUsesTheModelsThresholds) {
  Purchase(0, 100);
  Purchase(20, 100);
  const Scores base = ScoreAt(30);
  ASSERT_DOUBLE_EQ(base.past_profitability, 60);
  ASSERT_GT(base.clv, 0);
  const auto quadrant_with = [&](double profitability, double potential) {
    Model model = BuiltInBgNbdModel();  // as scorer_'s
    model.value.profitability_threshold = profitability;
    model.value.potential_threshold = potential;
    return Scorer(model).Score(CustomerId("c1"), state_, Day(30));
  };
  const Scores desirable = quadrant_with(60, base.clv);  // both exactly at the threshold
  EXPECT_EQ(desirable.quadrant, ValueQuadrant::kDesirable);
  EXPECT_EQ(ValueQuadrantName(desirable.quadrant), "DESIRABLE");
  EXPECT_EQ(ValueStrategy(desirable.quadrant), "RETAIN");
  const Scores mature = quadrant_with(60, base.clv * 1.001);
  EXPECT_EQ(ValueQuadrantName(mature.quadrant), "MATURE");
  EXPECT_EQ(ValueStrategy(mature.quadrant), "RATIONALISE");
  const Scores developing = quadrant_with(60.01, base.clv);
  EXPECT_EQ(ValueQuadrantName(developing.quadrant), "UNDER_DEVELOPED");
  EXPECT_EQ(ValueStrategy(developing.quadrant), "DEVELOP");
  const Scores undesirable = quadrant_with(60.01, base.clv * 1.001);
  EXPECT_EQ(ValueQuadrantName(undesirable.quadrant), "UNDESIRABLE");
  EXPECT_EQ(ValueStrategy(undesirable.quadrant), "ABANDON");
}

TEST_F(ScorerTest, RfmScoresAndTheAbcSegmentAreRelativeToThePopulation) {
  // Ten customers: customer k bought on k distinct days (the last on day 10 + k),
  // k distinct products, 10 × k per purchase.
  Population population;
  std::vector<CustomerState> customers(10);
  for (int k = 1; k <= 10; ++k) {
    for (int i = 0; i < k; ++i) {
      Touchpoint tp = MakeTouchpoint(Type::kPurchase, "p" + std::to_string(i), 10 + k - i);
      tp.amount = 10.0 * k;
      tp.product = "P" + std::to_string(i);
      ApplyTouchpoint(tp, StateLimits{}, customers[k - 1]);
    }
    population.Replace(0, std::nullopt, PopulationEntryOf(customers[k - 1]), nullptr);
  }
  const auto view = population.View();
  ASSERT_EQ(view->customers(), 10);

  const Scores best = scorer_.Score(CustomerId("c10"), customers[9], Day(30), view.get());
  EXPECT_EQ(best.rfm.r_score, 5);
  EXPECT_EQ(best.rfm.f_score, 5);
  EXPECT_EQ(best.rfm.m_score, 5);
  EXPECT_EQ(best.rfm.t_score, 5);
  EXPECT_EQ(best.segment, Segment::kA);  // nothing above
  const Scores worst = scorer_.Score(CustomerId("c1"), customers[0], Day(30), view.get());
  EXPECT_EQ(worst.rfm.r_score, 1);
  EXPECT_EQ(worst.rfm.f_score, 1);
  EXPECT_EQ(worst.rfm.m_score, 1);
  EXPECT_EQ(worst.rfm.t_score, 1);
  EXPECT_EQ(worst.segment, Segment::kC);  // 3840 of 3850 above
  for (int k = 1; k <= 10; ++k) {
    SCOPED_TRACE(k);
    const Scores s = scorer_.Score(CustomerId("c"), customers[k - 1], Day(30), view.get());
    const int quintile = (k - 1) / 2 + 1;  // mid-rank (k − 0.5) / 10
    EXPECT_EQ(s.rfm.r_score, quintile);
    EXPECT_EQ(s.rfm.f_score, quintile);
    EXPECT_EQ(s.rfm.m_score, quintile);
    EXPECT_EQ(s.rfm.t_score, quintile);
    EXPECT_EQ(s.rfm.product_types, static_cast<std::uint32_t>(k));
    EXPECT_EQ(s.segment, view->AbcSegment(s.rfm.revenue));
  }
  // Revenue 10 k², 3850 in all; above customer k: Σ_{j>k} 10 j². k = 6 has
  // 2940 above (76 %: A), k = 5 3300 (86 %: B), k = 4 3550 (92 %: B), k = 3
  // 3710 (96 %: C).
  const std::vector<Segment> abc = {Segment::kC, Segment::kC, Segment::kC, Segment::kB,
                                    Segment::kB, Segment::kA, Segment::kA, Segment::kA,
                                    Segment::kA, Segment::kA};
  for (int k = 1; k <= 10; ++k) {
    EXPECT_EQ(scorer_.Score(CustomerId("c"), customers[k - 1], Day(30), view.get()).segment,
              abc[k - 1])
        << k;
  }

  // Without a population: no scores and no segment; a prospect has none either.
  const Scores alone = scorer_.Score(CustomerId("c10"), customers[9], Day(30));
  EXPECT_EQ(alone.rfm.r_score, 0);
  EXPECT_EQ(alone.rfm.f_score, 0);
  EXPECT_EQ(alone.rfm.m_score, 0);
  EXPECT_EQ(alone.rfm.t_score, 0);
  EXPECT_EQ(alone.segment, Segment::kNone);
  Touch(1, Channel::kWeb);
  const Scores prospect = scorer_.Score(CustomerId("c1"), state_, Day(30), view.get());
  EXPECT_EQ(prospect.rfm.r_score, 0);
  EXPECT_EQ(prospect.rfm.f_score, 0);
  EXPECT_EQ(prospect.segment, Segment::kC);  // no revenue
}

TEST_F(ScorerTest, ChurnRisesAsACustomerGoesSilent) {
  RegularBuyer(state_);
  ASSERT_EQ(scorer_.model().churn.logistic.weights, Model::DefaultChurnModel().logistic.weights);
  const double soon = *ScoreAt(127).churn;
  const double overdue = *ScoreAt(170).churn;
  const double gone = *ScoreAt(300).churn;
  EXPECT_LT(soon, overdue);
  EXPECT_LT(overdue, gone);
  EXPECT_LE(ScoreAt(127).p_alive, 1);
  EXPECT_GT(ScoreAt(127).p_alive, ScoreAt(300).p_alive);
  EXPECT_GT(ScoreAt(127).expected_purchases, ScoreAt(300).expected_purchases);
}

TEST_F(ScorerTest, ChurnRisesWithComplaintsAndLowSatisfaction) {
  RegularBuyer(state_);
  const double content = *ScoreAt(130).churn;
  Touch(127, Channel::kPhone, Type::kComplaint);
  const double one_complaint = *ScoreAt(130).churn;
  Touch(128, Channel::kPhone, Type::kComplaint);
  const double two_complaints = *ScoreAt(130).churn;
  Touchpoint survey = MakeTouchpoint(Type::kSurvey, "s", 129);
  survey.satisfaction = 1;
  Apply(survey);
  const double unhappy = *ScoreAt(130).churn;
  EXPECT_LT(content, one_complaint);
  EXPECT_LT(one_complaint, two_complaints);
  EXPECT_LT(two_complaints, unhappy);
  // By the weights: each complaint adds 0.6 to the log-odds.
  const auto logit = [](double p) { return std::log(p / (1 - p)); };
  EXPECT_NEAR(logit(one_complaint) - logit(content), 0.6, 1e-9);
  EXPECT_NEAR(logit(two_complaints) - logit(one_complaint), 0.6, 1e-9);
}

TEST_F(ScorerTest, ReasonsAreTheLargestRaisingFactsAboveTheMinimum) {
  RegularBuyer(state_);
  Touch(200, Channel::kPhone, Type::kComplaint);
  Touch(201, Channel::kPhone, Type::kComplaint);
  Touchpoint survey = MakeTouchpoint(Type::kSurvey, "s", 202);
  survey.satisfaction = 2;
  Apply(survey);
  Return(203, 10);

  const Model& model = scorer_.model();
  ASSERT_EQ(model.max_reasons, 3);
  const Scores scores = ScoreAt(210);
  const CustomerFacts facts = FactsOf(state_, Day(210), model);
  const std::vector<double> values = ChurnFeatures(facts);
  const std::vector<Reason> all = ChurnReasons(model.churn.logistic, values, facts, {20, 0});
  ASSERT_GT(all.size(), 3u);
  ASSERT_EQ(scores.reasons.size(), 3u);
  for (std::size_t i = 0; i < scores.reasons.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_DOUBLE_EQ(scores.reasons[i].weight, all[i].weight);
    EXPECT_GE(scores.reasons[i].weight, model.min_reason_weight);  // positive, above the minimum
    if (i > 0) {
      EXPECT_GE(scores.reasons[i - 1].weight, scores.reasons[i].weight);
    }
    EXPECT_EQ(scores.reasons[i].code, all[i].code);
    EXPECT_EQ(scores.reasons[i].sentence, all[i].sentence);
    EXPECT_FALSE(scores.reasons[i].sentence.empty());
  }
  // Two complaints 9 and 10 days ago: 0.6 × (2 − 0.2) = 1.08 in the log-odds.
  bool complaints = false;
  for (const ScoreReason& r : scores.reasons) {
    if (r.code == "COMPLAINTS_RECENT") {
      complaints = true;
      EXPECT_NEAR(r.weight, 1.08, 1e-9);
      EXPECT_EQ(r.sentence, "2 complaints in the last 90 days, latest 9 days ago");
    }
  }
  EXPECT_TRUE(complaints);

  Model more = model;
  more.max_reasons = 20;
  more.min_reason_weight = 0;
  EXPECT_EQ(Scorer(more).Score(CustomerId("c1"), state_, Day(210)).reasons.size(), all.size());
  Model one = model;
  one.max_reasons = 1;
  const Scores single = Scorer(one).Score(CustomerId("c1"), state_, Day(210));
  ASSERT_EQ(single.reasons.size(), 1u);
  EXPECT_EQ(single.reasons[0].code, scores.reasons[0].code);
  Model none = model;
  none.min_reason_weight = 100;
  EXPECT_TRUE(Scorer(none).Score(CustomerId("c1"), state_, Day(210)).reasons.empty());
  // A minimum between two contributions keeps only those at or above it.
  Model some = more;
  some.min_reason_weight = all[1].weight;
  const Scores cut = Scorer(some).Score(CustomerId("c1"), state_, Day(210));
  for (const ScoreReason& r : cut.reasons) EXPECT_GE(r.weight, some.min_reason_weight);
  EXPECT_GE(cut.reasons.size(), 2u);
  EXPECT_LT(cut.reasons.size(), all.size());
}

// Scorer::Appetence, which the looks index, reads fewer facts than Score
// but gives the same appetence to the bit, every feature weighed.
TEST_F(ScorerTest, AppetenceAloneIsScoresAppetenceToTheBit) {
  Model model;
  AppetenceModel offer;
  offer.product = "TV";
  for (std::string_view feature : kAppetenceFeatureNames) {
    offer.logistic.weights[std::string(feature)] = 0.3;
    offer.logistic.means[std::string(feature)] = 0.5;
  }
  model.appetence = {offer};
  ASSERT_TRUE(ValidateModel(model).ok()) << ValidateModel(model);
  const Scorer scorer(model);
  const auto same = [&](double day) {
    SCOPED_TRACE(day);
    const AppetenceByProduct alone = scorer.Appetence(state_, Day(day));
    const Scores scores = scorer.Score(CustomerId("c1"), state_, Day(day));
    ASSERT_EQ(alone.size(), 1u);
    EXPECT_EQ(alone.at("TV"), scores.appetence.at("TV"));  // to the bit
  };
  Apply(MakeTouchpoint(Type::kContact, "hello", 1));  // a prospect first
  same(5);
  Purchase(3, 120, "TV");
  Purchase(40, 80, "RADIO");
  for (double day : {40.0, 90.0, 400.0}) same(day);
}

TEST_F(ScorerTest, AppetenceIsScoredPerProductInModelOrderWithReasons) {
  Model model;
  model.catalogue = {{"TV", "video"}, {"PROJ", "video"}};
  AppetenceModel tv;
  tv.product = "TV";
  tv.category = "video";
  tv.logistic.intercept = -1;
  tv.logistic.weights = {{"product_interest", 2}, {"owns_product", -4}, {"related_purchases", 1}};
  AppetenceModel radio;  // listed after TV though it sorts before
  radio.product = "RADIO";
  radio.logistic.intercept = -3;
  radio.logistic.weights = {{"campaign_responses", 0.5}};
  model.appetence = {tv, radio};
  ASSERT_TRUE(ValidateModel(model).ok()) << ValidateModel(model);
  const Scorer scorer(model);

  Purchase(1, 300, "PROJ");
  Touchpoint asked = MakeTouchpoint(Type::kContact, "asked", 18, Channel::kPhone);
  asked.product = "TV";
  Apply(asked);
  const Scores scores = scorer.Score(CustomerId("c1"), state_, Day(20));
  ASSERT_EQ(scores.appetence_details.size(), 2u);
  EXPECT_EQ(scores.appetence_details[0].product, "TV");
  EXPECT_EQ(scores.appetence_details[1].product, "RADIO");
  ASSERT_EQ(scores.appetence.size(), 2u);

  const CustomerFacts facts = FactsOf(state_, Day(20), model);
  for (std::size_t i = 0; i < model.appetence.size(); ++i) {
    const AppetenceModel& offer = model.appetence[i];
    SCOPED_TRACE(offer.product);
    const ProductFacts product = ProductFactsOf(state_, Day(20), offer, model);
    const LogisticScore want =
        EvaluateLogistic(offer.logistic, kAppetenceFeatureNames, AppetenceFeatures(facts, product));
    EXPECT_DOUBLE_EQ(scores.appetence_details[i].probability, want.probability);
    EXPECT_DOUBLE_EQ(scores.appetence.at(offer.product), want.probability);
  }
  // TV: interest log(2) e^(-2/30) × 2 and one related purchase log(2) × 1.
  const double interest = std::log(2) * std::exp(-2.0 / 30);
  EXPECT_NEAR(scores.appetence.at("TV"), 1 / (1 + std::exp(-(-1 + 2 * interest + std::log(2)))),
              1e-12);
  const std::vector<ScoreReason>& reasons = scores.appetence_details[0].reasons;
  ASSERT_EQ(reasons.size(), 2u);  // owns_product is 0: no contribution
  EXPECT_EQ(reasons[0].code, "PRODUCT_INTEREST");
  EXPECT_EQ(reasons[0].sentence, "asked about TV 1 time, latest 2 days ago");
  EXPECT_NEAR(reasons[0].weight, 2 * interest, 1e-12);
  EXPECT_EQ(reasons[1].code, "RELATED_PURCHASES");
  EXPECT_EQ(reasons[1].sentence, "1 purchase of related products");
  // RADIO: no campaign response, nothing to say.
  EXPECT_NEAR(scores.appetence.at("RADIO"), 1 / (1 + std::exp(3.0)), 1e-12);
  EXPECT_TRUE(scores.appetence_details[1].reasons.empty());

  // The built-in model has no appetence.
  EXPECT_TRUE(ScoreAt(20).appetence.empty());
  EXPECT_TRUE(ScoreAt(20).appetence_details.empty());
}

// --- ChurnCurve ----------------------------------------------------------------

// The curve works the fixed facts out once and only the weighed timed ones at
// each look: its churn must still be Score's, to the bit, whatever the weights
// (each feature weighed alone, then all together), for buyers with every kind
// of history and for a prospect, before, at and long after their touchpoints,
// asked in any order.
TEST(ChurnCurveTest, IsScoresChurnToTheBitForEveryFeatureWeighed) {
  std::mt19937 random(7);
  std::vector<CustomerState> states(40);
  const std::array<Type, 6> types = {Type::kPurchase, Type::kContact,      Type::kComplaint,
                                     Type::kSurvey,   Type::kCancellation, Type::kReturn};
  for (std::size_t c = 0; c < states.size(); ++c) {
    const int touchpoints = c == 0 ? 3 : 1 + static_cast<int>(random() % 40);
    for (int i = 0; i < touchpoints; ++i) {
      // The first customer is a prospect: contacts only.
      const Type type = c == 0 ? Type::kContact : types[random() % types.size()];
      Touchpoint tp =
          MakeTouchpoint(type, "e" + std::to_string(i), static_cast<double>(random() % 4000) / 10,
                         static_cast<Channel>(1 + random() % 3));
      tp.amount = 5 + static_cast<double>(random() % 100);
      tp.product = "P";
      if (type == Type::kSurvey) tp.satisfaction = static_cast<std::int32_t>(random() % 11);
      ApplyTouchpoint(tp, StateLimits{}, states[c]);
    }
  }
  std::vector<Model> models;
  for (std::size_t f = 0; f < kChurnFeatureNames.size(); ++f) {
    Model model;
    model.churn.logistic.weights = {{std::string(kChurnFeatureNames[f]), 0.7}};
    model.churn.logistic.means = {{std::string(kChurnFeatureNames[f]), 0.3}};
    models.push_back(model);
  }
  Model all;
  for (std::string_view name : kChurnFeatureNames) {
    all.churn.logistic.weights[std::string(name)] = static_cast<double>(random() % 200) / 100 - 1;
    all.churn.logistic.means[std::string(name)] = static_cast<double>(random() % 100) / 100;
  }
  // An appetence model reading p_alive, which a look's churn shares.
  all.appetence.push_back(
      {.product = "P", .logistic = {.intercept = -1, .weights = {{"p_alive", 2.0}}}});
  models.push_back(all);
  models.push_back(Model{});
  for (const Model& model : models) {
    const Scorer scorer(model);
    for (const CustomerState& state : states) {
      ChurnCurve curve(scorer, state);
      // Hours of one day in and out of order (the curve keeps the outlook of
      // the day last asked), and days back and forth.
      for (double day : {0.0, 35.5, 120.25, 120.75, 120.5, 399.0, 35.75, 410.0, 700.0, 2000.0}) {
        const std::optional<double> churn = scorer.Score(CustomerId("c1"), state, Day(day)).churn;
        if (!churn) {  // a prospect has no churn, and no look
          ASSERT_TRUE(state.purchase_days.empty());
          continue;
        }
        const double want = *churn;
        ASSERT_EQ(curve.At(Day(day)), want) << "day " << day;
        ASSERT_EQ(scorer.Churn(state, Day(day)), want) << "day " << day;
        // A look shares one purchase outlook between its appetence and churn.
        OutlookMemo look;
        ASSERT_EQ(scorer.Appetence(state, Day(day), &look), scorer.Appetence(state, Day(day)));
        ASSERT_EQ(scorer.Churn(state, Day(day), &look), want) << "day " << day;
      }
    }
  }
}

}  // namespace
}  // namespace crm
