#include "core/reasons.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "core/customer_state.h"
#include "core/features.h"
#include "core/model.h"
#include "core/scorer.h"
#include "tests/core/test_touchpoints.h"

namespace crm {
namespace {

using testing::Day;
using testing::MakeTouchpoint;
using Type = TouchpointType;

// A regular buyer who stopped: every 21 days, then silent for 94.
CustomerFacts Leaving() {
  CustomerFacts f;
  f.has_purchase = true;
  f.transactions = 3;
  f.recency_days = 94.2;
  f.rhythm_days = 21;
  f.tenure_days = 136.2;
  f.expected_purchases = 0.3;
  f.p_no_purchase = 0.8;
  f.p_alive = 0.4;
  f.monetary = 20;
  f.complaints_recent = 2;
  f.days_since_complaint = 3.2;
  f.latest_satisfaction = 3;
  return f;
}

LogisticModel Weighed(std::map<std::string, double, std::less<>> weights,
                      std::map<std::string, double, std::less<>> means) {
  LogisticModel m;
  m.weights = std::move(weights);
  m.means = std::move(means);
  return m;
}

std::vector<Reason> Churn(const LogisticModel& model, const CustomerFacts& f,
                          ReasonLimits limits = {20, 0}) {
  return ChurnReasons(model, ChurnFeatures(f), f, limits);
}

TEST(ChurnReasonsTest, SayTheComparisonInPlainWords) {
  const CustomerFacts f = Leaving();
  const LogisticModel model = Weighed({{"recency_vs_rhythm", 0.5},
                                       {"recent_complaints", 0.6},
                                       {"dissatisfaction", 2},
                                       {"log_transactions", -1},
                                       {"log_expected_purchases", -0.8}},
                                      {{"recency_vs_rhythm", 1},
                                       {"recent_complaints", 0.2},
                                       {"dissatisfaction", 0.3},
                                       {"log_transactions", std::log1p(17.0)},
                                       {"log_expected_purchases", std::log(1.95)}});
  std::set<std::string> sentences;
  for (const Reason& r : Churn(model, f)) sentences.insert(r.sentence);
  EXPECT_EQ(sentences, (std::set<std::string>{
                           "no purchase for 94 days; usually every 21",
                           "2 complaints in the last 90 days, latest 3 days ago",
                           "latest satisfaction 3/10; typically 7/10",
                           "only 3 purchases so far; typically 17",
                           "0.3 purchases expected in the coming months; typically 1.9",
                       }));
}

TEST(ChurnReasonsTest, OneDayAgoAndTodayReadAsWords) {
  CustomerFacts f = Leaving();
  const LogisticModel model = Weighed({{"recent_complaints", 0.6}}, {{"recent_complaints", 0.2}});
  f.days_since_complaint = 0.9;
  ASSERT_EQ(Churn(model, f).size(), 1u);
  EXPECT_EQ(Churn(model, f)[0].sentence, "2 complaints in the last 90 days, latest 1 day ago");
  f.days_since_complaint = 0.2;
  EXPECT_EQ(Churn(model, f)[0].sentence, "2 complaints in the last 90 days, latest today");
}

// The features that say one fact give one reason, weighing their sum.
TEST(ChurnReasonsTest, OneReasonPerFactWithTheSumOfItsFeatures) {
  CustomerFacts f = Leaving();
  f.transactions_90d = 0;
  f.transactions_180d = 1;
  const LogisticModel model = Weighed(
      {{"recency_vs_rhythm", 0.5},
       {"log_recency_days", 0.2},
       {"recency_x_frequency", 0.1},
       {"recent_transactions", -0.4},
       {"half_year_transactions", -0.3}},
      {{"recency_vs_rhythm", 1}, {"recent_transactions", 1}, {"half_year_transactions", 1.5}});
  const std::vector<double> v = ChurnFeatures(f);
  const std::vector<Reason> reasons = ChurnReasons(model, v, f, {20, 0});
  ASSERT_EQ(reasons.size(), 2u);
  EXPECT_EQ(reasons[0].code, "PURCHASE_RECENCY");
  EXPECT_DOUBLE_EQ(reasons[0].weight, 0.5 * (v[2] - 1) + 0.2 * v[3] + 0.1 * v[15]);
  EXPECT_EQ(reasons[0].direction, ReasonDirection::kAbove);
  EXPECT_EQ(reasons[1].code, "FEW_RECENT_PURCHASES");
  EXPECT_EQ(reasons[1].sentence, "no purchase in the last 90 days; typically 1.7");
  EXPECT_DOUBLE_EQ(reasons[1].weight, -0.4 * (v[12] - 1) - 0.3 * (v[13] - 1.5));
  EXPECT_EQ(reasons[1].direction, ReasonDirection::kBelow);
}

// What lowers the risk is no reason, nor a fact on the reassuring side of
// typical even when a model's weight makes it raise the score.
TEST(ChurnReasonsTest, OnlyWhatRaisesTheRiskOnTheSideThatReadsAsARisk) {
  CustomerFacts f = Leaving();
  f.complaints_recent = 0;
  f.days_since_complaint.reset();
  f.p_alive = 1;
  f.transactions = 4;
  // No complaint against 0.2 typical lowers the risk: no reason.
  EXPECT_TRUE(
      Churn(Weighed({{"recent_complaints", 0.6}}, {{"recent_complaints", 0.2}}), f).empty());
  // A model that finds no complaint risky still gives no "no complaint" reason.
  EXPECT_TRUE(
      Churn(Weighed({{"recent_complaints", -0.6}}, {{"recent_complaints", 0.2}}), f).empty());
  // Alive for sure under a positive p_alive weight (the demo's collinear fit).
  EXPECT_TRUE(Churn(Weighed({{"p_alive", 0.24}}, {{"p_alive", 0.78}}), f).empty());
  // More purchases than typical is no reason to leave.
  EXPECT_TRUE(
      Churn(Weighed({{"log_transactions", 0.3}}, {{"log_transactions", std::log1p(2.0)}}), f)
          .empty());
  // Fewer is, in that direction's words.
  const std::vector<Reason> few =
      Churn(Weighed({{"log_transactions", -0.3}}, {{"log_transactions", std::log1p(17.0)}}), f);
  ASSERT_EQ(few.size(), 1u);
  EXPECT_EQ(few[0].sentence, "only 4 purchases so far; typically 17");
}

TEST(ChurnReasonsTest, LargestFirstAboveTheMinimumAtMostMax) {
  const CustomerFacts f = Leaving();
  const LogisticModel model = Weighed({{"recent_complaints", 0.6}, {"dissatisfaction", 2}},
                                      {{"recent_complaints", 0.2}, {"dissatisfaction", 0.3}});
  const std::vector<Reason> both = Churn(model, f);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0].code, "COMPLAINTS_RECENT");  // 0.6 × 1.8 = 1.08 > 2 × 0.4 = 0.8
  EXPECT_NEAR(both[0].weight, 1.08, 1e-12);
  EXPECT_NEAR(both[1].weight, 0.8, 1e-12);
  EXPECT_EQ(Churn(model, f, {1, 0}).size(), 1u);
  EXPECT_EQ(Churn(model, f, {20, 0.9}).size(), 1u);
  EXPECT_TRUE(Churn(model, f, {0, 0}).empty());
}

// A prospect: several facts would say "has not bought yet"; it is said once.
TEST(ChurnReasonsTest, OneSentenceNeverTwice) {
  CustomerFacts prospect;
  prospect.tenure_days = 12;
  const LogisticModel model =
      Weighed({{"log_expected_purchases", -0.8}, {"log_monetary", -1}, {"p_alive", -1}},
              {{"log_expected_purchases", 0.5}, {"log_monetary", 4}, {"p_alive", 0.7}});
  const std::vector<Reason> reasons = Churn(model, prospect);
  std::set<std::string> sentences;
  for (const Reason& r : reasons) EXPECT_TRUE(sentences.insert(r.sentence).second) << r.sentence;
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_EQ(reasons[0].sentence, "has not bought yet");
  const std::vector<double> v = ChurnFeatures(prospect);
  EXPECT_DOUBLE_EQ(reasons[0].weight, -0.8 * (v[0] - 0.5) - 1 * (v[5] - 4) - 1 * (v[1] - 0.7));
}

// --- A missing fact ------------------------------------------------------------

CustomerState Buyer(bool survey) {
  CustomerState state;
  int n = 0;
  const auto apply = [&](Touchpoint tp) { ApplyTouchpoint(tp, StateLimits{}, state); };
  for (double day : {0.0, 20.0, 41.0, 60.0}) {
    apply(MakeTouchpoint(Type::kPurchase, "p" + std::to_string(n++), day));
  }
  apply(MakeTouchpoint(Type::kComplaint, "c", 100));
  if (survey) {
    Touchpoint s = MakeTouchpoint(Type::kSurvey, "s", 101);
    s.satisfaction = 2;
    apply(s);
  }
  return state;
}

// A customer who never answered a survey is scored at the mean satisfaction
// (not as a 10/10), in Score and in ChurnCurve alike, and has no
// satisfaction reason.
TEST(MissingFactTest, NoSurveyIsScoredAtTheMeanWithNoReason) {
  Model model;  // built in: dissatisfaction weighs 2.0 around a mean of 0.3
  ASSERT_GT(model.churn.logistic.weights.at("dissatisfaction"), 0);
  model.max_reasons = 20;
  model.min_reason_weight = 0;
  const Scorer scorer(model);
  const CustomerState silent = Buyer(false);
  const Scores scores = scorer.Score(CustomerId("c1"), silent, Day(130));

  CustomerFacts facts = FactsOf(silent, Day(130), model);
  ASSERT_FALSE(facts.latest_satisfaction);
  std::vector<double> at_mean = ChurnFeatures(facts);
  ASSERT_TRUE(std::isnan(at_mean[8]));
  at_mean[8] = model.churn.logistic.means.at("dissatisfaction");
  EXPECT_DOUBLE_EQ(scores.churn.value(),
                   EvaluateLogistic(model.churn.logistic, kChurnFeatureNames, at_mean).probability);
  EXPECT_EQ(ChurnCurve(scorer, silent).At(Day(130)), scores.churn.value());
  // Not as if satisfied (10/10 would be dissatisfaction 0, below the mean).
  std::vector<double> satisfied = at_mean;
  satisfied[8] = 0;
  EXPECT_GT(scores.churn.value(),
            EvaluateLogistic(model.churn.logistic, kChurnFeatureNames, satisfied).probability);
  for (const ScoreReason& r : scores.reasons) {
    EXPECT_NE(r.code, "LOW_SATISFACTION") << r.sentence;
    EXPECT_EQ(r.sentence.find("satisf"), std::string::npos) << r.sentence;
  }

  const Scores unhappy = scorer.Score(CustomerId("c1"), Buyer(true), Day(130));
  bool said = false;
  for (const ScoreReason& r : unhappy.reasons) {
    if (r.code == "LOW_SATISFACTION") {
      said = true;
      EXPECT_EQ(r.sentence, "latest satisfaction 2/10; typically 7/10");
    }
  }
  EXPECT_TRUE(said);
}

// --- Appetence -------------------------------------------------------------------

TEST(AppetenceReasonsTest, OnlyWhatRaisesThePropensityNeverAnAbsence) {
  CustomerFacts f = Leaving();
  ProductFacts p;
  LogisticModel model =
      Weighed({{"product_interest", 2}, {"campaign_responses", 0.5}, {"owns_product", -1}},
              {{"product_interest", 0.2}, {"campaign_responses", 0.3}, {"owns_product", 0.4}});
  const auto reasons = [&] {
    return AppetenceReasons(model, AppetenceFeatures(f, p), f, p, "TV", {20, 0});
  };
  // Never asked, no campaign response: those lower it; not owning raises it.
  std::vector<Reason> r = reasons();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].sentence, "does not have TV yet");
  EXPECT_EQ(r[0].direction, ReasonDirection::kBelow);
  // Even weighed the other way, an absence is no reason.
  model.weights = {{"product_interest", -2}, {"campaign_responses", -0.5}};
  EXPECT_TRUE(reasons().empty());
  model.weights = {{"product_interest", 2}, {"campaign_responses", 0.5}};
  p.interactions = 2;
  p.days_since_interaction = 7;
  f.campaign_responses = 3;
  r = reasons();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].sentence, "asked about TV 2 times, latest 7 days ago");
  EXPECT_EQ(r[1].sentence, "responded to 3 campaigns");
}

}  // namespace
}  // namespace crm
