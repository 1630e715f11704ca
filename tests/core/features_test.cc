#include "core/features.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bgnbd.h"
#include "core/customer_state.h"
#include "core/gamma_gamma.h"
#include "core/model.h"
#include "core/pareto_nbd.h"
#include "core/time.h"
#include "core/touchpoint.h"
#include "tests/core/bgnbd_model.h"
#include "tests/core/test_touchpoints.h"

namespace crm {
namespace {

using testing::Day;
using testing::MakeTouchpoint;
using Type = TouchpointType;

// Builds one customer's state from touchpoints, as ingestion would.
class StateBuilder {
 public:
  StateBuilder& Purchase(double day, double amount = 10, std::string product = "P") {
    Touchpoint tp = MakeTouchpoint(Type::kPurchase, NextId(), day);
    tp.amount = amount;
    tp.product = std::move(product);
    return Apply(tp);
  }
  StateBuilder& Return(double day, double amount = 10, std::string product = "P") {
    Touchpoint tp = MakeTouchpoint(Type::kReturn, NextId(), day);
    tp.amount = amount;
    tp.product = std::move(product);
    return Apply(tp);
  }
  StateBuilder& Cancel(double day, std::string product = "P") {
    Touchpoint tp = MakeTouchpoint(Type::kCancellation, NextId(), day);
    tp.product = std::move(product);
    return Apply(tp);
  }
  StateBuilder& Complaint(double day) {
    return Apply(MakeTouchpoint(Type::kComplaint, NextId(), day, Channel::kPhone));
  }
  StateBuilder& Survey(double day, int score) {
    Touchpoint tp = MakeTouchpoint(Type::kSurvey, NextId(), day);
    tp.satisfaction = score;
    return Apply(tp);
  }
  StateBuilder& Contact(double day, Channel channel = Channel::kWeb, std::string product = "") {
    Touchpoint tp = MakeTouchpoint(Type::kContact, NextId(), day, channel);
    tp.product = std::move(product);
    return Apply(tp);
  }
  StateBuilder& CampaignResponse(double day, std::string product = "") {
    Touchpoint tp = MakeTouchpoint(Type::kCampaignResponse, NextId(), day, Channel::kEmail);
    tp.product = std::move(product);
    return Apply(tp);
  }
  StateBuilder& Apply(const Touchpoint& tp) {
    EXPECT_EQ(ApplyTouchpoint(tp, StateLimits{}, state_), ApplyOutcome::kApplied);
    return *this;
  }
  const CustomerState& state() const { return state_; }

 private:
  std::string NextId() { return "e" + std::to_string(next_id_++); }
  CustomerState state_;
  int next_id_ = 0;
};

// --- PurchaseHistoryOf -------------------------------------------------------

TEST(PurchaseHistoryOfTest, MergedSameDayPurchasesInWeeks) {
  StateBuilder b;
  b.Purchase(0).Purchase(0.5).Purchase(14).Purchase(28);
  PurchaseModel model;
  ASSERT_TRUE(model.merge_same_day);
  ASSERT_EQ(model.time_unit, TimeUnit::kWeek);
  const BgNbdHistory h = PurchaseHistoryOf(b.state(), Day(35), model);
  EXPECT_DOUBLE_EQ(h.x, 2);
  EXPECT_DOUBLE_EQ(h.t_x, 4);
  EXPECT_DOUBLE_EQ(h.T, 5);
  // With merge_same_day times are whole days: later on day 35 is still T = 5.
  EXPECT_DOUBLE_EQ(PurchaseHistoryOf(b.state(), Day(35.9), model).T, 5);
}

TEST(PurchaseHistoryOfTest, MergedSameDayPurchasesInDays) {
  StateBuilder b;
  b.Purchase(0).Purchase(0.5).Purchase(14).Purchase(28);
  PurchaseModel model;
  model.time_unit = TimeUnit::kDay;
  const BgNbdHistory h = PurchaseHistoryOf(b.state(), Day(35), model);
  EXPECT_DOUBLE_EQ(h.x, 2);
  EXPECT_DOUBLE_EQ(h.t_x, 28);
  EXPECT_DOUBLE_EQ(h.T, 35);
}

TEST(PurchaseHistoryOfTest, UnmergedEveryPurchaseCountsAtItsExactTime) {
  StateBuilder b;
  b.Purchase(0.25).Purchase(0.5).Purchase(14).Purchase(28.25);
  PurchaseModel model;
  model.merge_same_day = false;
  model.time_unit = TimeUnit::kDay;
  const BgNbdHistory days = PurchaseHistoryOf(b.state(), Day(35.75), model);
  EXPECT_DOUBLE_EQ(days.x, 3);
  EXPECT_DOUBLE_EQ(days.t_x, 28);
  EXPECT_DOUBLE_EQ(days.T, 35.5);

  model.time_unit = TimeUnit::kWeek;
  const BgNbdHistory weeks = PurchaseHistoryOf(b.state(), Day(35.75), model);
  EXPECT_DOUBLE_EQ(weeks.x, 3);
  EXPECT_DOUBLE_EQ(weeks.t_x, 4);
  EXPECT_DOUBLE_EQ(weeks.T, 35.5 / 7);
}

TEST(PurchaseHistoryOfTest, PurchasesLaterThanAsOfStillCountAndTIsAtLeastTx) {
  StateBuilder b;
  b.Purchase(0).Purchase(14).Purchase(28);
  PurchaseModel model;
  const BgNbdHistory h = PurchaseHistoryOf(b.state(), Day(10), model);
  EXPECT_DOUBLE_EQ(h.x, 2);
  EXPECT_DOUBLE_EQ(h.t_x, 4);
  EXPECT_DOUBLE_EQ(h.T, 4);
}

// --- FactsOf -----------------------------------------------------------------

TEST(FactsOfTest, AProspectHasNoPurchaseFactsButATenure) {
  StateBuilder b;
  b.Contact(10);
  const Model model;
  const CustomerFacts f = FactsOf(b.state(), Day(40), model);
  EXPECT_FALSE(f.has_purchase);
  EXPECT_EQ(f.transactions, 0u);
  EXPECT_EQ(f.recency_days, -1);
  EXPECT_EQ(f.rhythm_days, 0);
  EXPECT_DOUBLE_EQ(f.tenure_days, 30);
  EXPECT_EQ(f.p_alive, 0);
  EXPECT_EQ(f.monetary, 0);
  EXPECT_EQ(f.repeat_spend, 0);
  // The purchase models start at the first purchase: nothing expected yet, and
  // the population's mean spend should they buy.
  EXPECT_EQ(f.expected_purchases, 0);
  EXPECT_EQ(f.clv, 0);
  EXPECT_DOUBLE_EQ(f.expected_spend, GammaGammaExpectedSpend(model.purchase.gamma_gamma, 0, 0));
}

TEST(FactsOfTest, RecencyRhythmTenureAndTheBgNbdQuantities) {
  StateBuilder b;
  b.Purchase(0.5, 10).Purchase(0.75, 20).Purchase(14, 40).Purchase(28.5, 50);
  const Model model = BuiltInBgNbdModel();
  const CustomerFacts f = FactsOf(b.state(), Day(35), model);
  EXPECT_TRUE(f.has_purchase);
  EXPECT_EQ(f.transactions, 3u);  // distinct days
  EXPECT_DOUBLE_EQ(f.recency_days, 6.5);
  EXPECT_DOUBLE_EQ(f.rhythm_days, 14);  // 28 days over 2 intervals
  EXPECT_DOUBLE_EQ(f.tenure_days, 35);
  EXPECT_DOUBLE_EQ(f.history.x, 2);
  EXPECT_DOUBLE_EQ(f.history.t_x, 4);
  EXPECT_DOUBLE_EQ(f.history.T, 5);
  const BgNbdHistory h{2, 4, 5};
  EXPECT_DOUBLE_EQ(f.p_alive, BgNbdProbabilityAlive(model.purchase.bgnbd, h));
  EXPECT_GT(f.p_alive, 0);
  EXPECT_LE(f.p_alive, 1);
  EXPECT_DOUBLE_EQ(f.expected_purchases,
                   BgNbdExpectedTransactions(model.purchase.bgnbd, h, 90.0 / 7));
  EXPECT_DOUBLE_EQ(f.p_no_purchase,
                   BgNbdProbabilityNoTransaction(model.purchase.bgnbd, h, 90.0 / 7));
  EXPECT_DOUBLE_EQ(f.revenue, 120);
  EXPECT_DOUBLE_EQ(f.monetary, 40);  // 120 over 3 transactions
}

TEST(FactsOfTest, ExpectedPurchasesUseTheChurnHorizonInTheModelsUnit) {
  StateBuilder b;
  b.Purchase(0).Purchase(10).Purchase(20);
  Model model = BuiltInBgNbdModel();
  model.churn.horizon_days = 60;
  model.purchase.time_unit = TimeUnit::kDay;
  const CustomerFacts f = FactsOf(b.state(), Day(30), model);
  EXPECT_DOUBLE_EQ(f.expected_purchases,
                   BgNbdExpectedTransactions(model.purchase.bgnbd, BgNbdHistory{2, 20, 30}, 60));
  EXPECT_DOUBLE_EQ(f.tenure_days, 30);
  EXPECT_DOUBLE_EQ(f.rhythm_days, 10);
}

TEST(FactsOfTest, RepeatSpendExcludesTheFirstDayAndExpectedSpendIsGammaGamma) {
  StateBuilder b;
  b.Purchase(0.1, 10).Purchase(0.2, 20).Purchase(14, 40).Purchase(28, 70);
  const Model model;
  const CustomerFacts f = FactsOf(b.state(), Day(35), model);
  EXPECT_DOUBLE_EQ(b.state().first_day_amount, 30);
  EXPECT_DOUBLE_EQ(f.repeat_spend, 55);  // (40 + 70) / 2
  EXPECT_DOUBLE_EQ(f.expected_spend, GammaGammaExpectedSpend(model.purchase.gamma_gamma, 2, 55));
  // (γ + x m) p / (p x + q − 1), by hand.
  const GammaGammaParams& gg = model.purchase.gamma_gamma;
  EXPECT_NEAR(f.expected_spend, (gg.gamma + 2 * 55) * gg.p / (gg.p * 2 + gg.q - 1), 1e-9);
}

TEST(FactsOfTest, ALatePurchaseBeforeTheFirstDayBecomesTheFirstDay) {
  StateBuilder b;
  b.Purchase(7.1, 30).Purchase(7.2, 20).Purchase(14, 40);
  EXPECT_DOUBLE_EQ(FactsOf(b.state(), Day(20), Model{}).repeat_spend, 40);
  b.Purchase(0.5, 6);  // arrives late, earlier than every other: day 7 is now a repeat day
  EXPECT_DOUBLE_EQ(b.state().first_day_amount, 6);
  const CustomerFacts f = FactsOf(b.state(), Day(20), Model{});
  EXPECT_EQ(f.transactions, 3u);
  EXPECT_DOUBLE_EQ(f.repeat_spend, 45);  // (50 + 40) / 2
  b.Purchase(0.9, 4);                    // the same (new) first day
  EXPECT_DOUBLE_EQ(b.state().first_day_amount, 10);
  EXPECT_DOUBLE_EQ(FactsOf(b.state(), Day(20), Model{}).repeat_spend, 45);
}

TEST(FactsOfTest, ASingleDayCustomerHasNoRepeatSpendAndThePopulationMeanSpend) {
  StateBuilder b;
  b.Purchase(1, 100).Purchase(1.5, 50);
  const Model model;
  const CustomerFacts f = FactsOf(b.state(), Day(10), model);
  EXPECT_EQ(f.repeat_spend, 0);
  const GammaGammaParams& gg = model.purchase.gamma_gamma;
  EXPECT_NEAR(f.expected_spend, gg.p * gg.gamma / (gg.q - 1), 1e-9);
}

TEST(FactsOfTest, PastProfitabilityIsMarginTimesNetRevenue) {
  StateBuilder b;
  b.Purchase(1, 100).Purchase(5, 300).Return(6, 50);
  Model model;
  model.value.margin = 0.25;
  const CustomerFacts f = FactsOf(b.state(), Day(10), model);
  EXPECT_DOUBLE_EQ(f.revenue, 350);
  EXPECT_DOUBLE_EQ(f.past_profitability, 87.5);
  EXPECT_DOUBLE_EQ(f.monetary, 175);
}

// Σ over 30-day steps of the increments of E[Y(t)] (`expected` of a horizon
// in the model's unit), discounted at the end of each step, computed
// independently of ClvIfActive.
double ClvByHand(const std::function<double(double)>& expected, double spend, double margin,
                 double rate, double horizon_days, double days_per_unit) {
  const int steps = static_cast<int>(std::ceil(horizon_days / 30));
  double total = 0;
  for (int i = 1; i <= steps; ++i) {
    const double end = horizon_days * i / steps;
    const double start = horizon_days * (i - 1) / steps;
    const double increment = expected(end / days_per_unit) - expected(start / days_per_unit);
    total += increment / std::pow(1 + rate, end / 365.25);
  }
  return margin * spend * total;
}

double ClvByHand(const BgNbdParams& bg, const BgNbdHistory& h, double spend, double margin,
                 double rate, double horizon_days, double days_per_unit) {
  return ClvByHand([&](double t) { return BgNbdExpectedTransactions(bg, h, t); }, spend, margin,
                   rate, horizon_days, days_per_unit);
}

TEST(FactsOfTest, ClvIsTheDiscountedMarginOfTheExpectedPurchases) {
  StateBuilder b;
  b.Purchase(0, 30).Purchase(20, 50).Purchase(41, 70).Purchase(60, 40);
  const Model model = BuiltInBgNbdModel();
  const CustomerFacts f = FactsOf(b.state(), Day(75), model);
  ASSERT_GT(f.expected_spend, 0);
  const double want =
      ClvByHand(model.purchase.bgnbd, f.history, f.expected_spend, model.value.margin,
                model.value.annual_discount_rate, model.value.clv_horizon_days, 7);
  EXPECT_GT(want, 0);
  EXPECT_NEAR(f.clv, want, 1e-9 * want);
  // The CLV is P(alive) × the CLV if active.
  EXPECT_NEAR(f.clv_if_active,
              ClvIfActive(f.history, f.expected_spend, model.purchase, model.value), 1e-12);
  EXPECT_DOUBLE_EQ(f.clv, f.p_alive * f.clv_if_active);
  // Discounting lowers it below the undiscounted value.
  const double undiscounted = model.value.margin * f.expected_spend *
                              BgNbdExpectedTransactions(model.purchase.bgnbd, f.history, 365.0 / 7);
  EXPECT_LT(f.clv, undiscounted);
}

TEST(FactsOfTest, UndiscountedClvIsMarginTimesSpendTimesExpectedPurchasesOverTheHorizon) {
  const BgNbdHistory h{3, 10, 14};
  const PurchaseModel purchase = BuiltInBgNbdModel().purchase;
  for (double horizon : {1.0, 29.0, 30.0, 31.0, 100.0, 365.0, 730.0}) {
    SCOPED_TRACE(horizon);
    ValueParams value;
    value.margin = 0.4;
    value.annual_discount_rate = 0;
    value.clv_horizon_days = horizon;
    const double want = 0.4 * 25 * BgNbdExpectedTransactions(purchase.bgnbd, h, horizon / 7) /
                        BgNbdProbabilityAlive(purchase.bgnbd, h);
    EXPECT_NEAR(ClvIfActive(h, 25, purchase, value), want, 1e-9 * want);
  }
  // And with a discount rate, the independent computation.
  ValueParams value;
  value.annual_discount_rate = 0.2;
  value.clv_horizon_days = 500;
  EXPECT_NEAR(ClvIfActive(h, 25, purchase, value) * BgNbdProbabilityAlive(purchase.bgnbd, h),
              ClvByHand(purchase.bgnbd, h, 25, value.margin, 0.2, 500, 7), 1e-9);
}

TEST(FactsOfTest, TheClvIsNetOfReturns) {
  StateBuilder b;
  b.Purchase(0, 30).Purchase(20, 50).Purchase(41, 70).Purchase(60, 40);
  const Model model;
  const CustomerFacts kept_all = FactsOf(b.state(), Day(75), model);
  b.Return(62, 47.5);  // a quarter of the 190 bought
  const CustomerFacts returned = FactsOf(b.state(), Day(75), model);
  ASSERT_GT(kept_all.clv, 0);
  EXPECT_NEAR(returned.clv, 0.75 * kept_all.clv, 1e-9 * kept_all.clv);
  EXPECT_NEAR(returned.clv_if_active, 0.75 * kept_all.clv_if_active, 1e-9 * kept_all.clv);
}

TEST(FactsOfTest, TheBuiltInParetoNbdGivesThePurchaseQuantitiesAndTheClv) {
  StateBuilder b;
  b.Purchase(0, 30).Purchase(20, 50).Purchase(41, 70).Purchase(60, 40);
  const Model model;  // built in: Pareto/NBD
  ASSERT_EQ(model.purchase.kind, PurchaseModelKind::kParetoNbd);
  const CustomerFacts f = FactsOf(b.state(), Day(75), model);
  const ParetoNbdParams& pn = model.purchase.pareto_nbd;
  const BgNbdHistory h{3, 60.0 / 7, 75.0 / 7};
  EXPECT_DOUBLE_EQ(f.p_alive, ParetoNbdProbabilityAlive(pn, h));
  EXPECT_DOUBLE_EQ(f.expected_purchases, ParetoNbdExpectedTransactions(pn, h, 90.0 / 7));
  EXPECT_DOUBLE_EQ(f.p_no_purchase, ParetoNbdProbabilityNoTransaction(pn, h, 90.0 / 7));
  EXPECT_NE(f.p_alive, BgNbdProbabilityAlive(model.purchase.bgnbd, h));
  const double want = ClvByHand([&](double t) { return ParetoNbdExpectedTransactions(pn, h, t); },
                                f.expected_spend, model.value.margin,
                                model.value.annual_discount_rate, model.value.clv_horizon_days, 7);
  EXPECT_GT(want, 0);
  EXPECT_NEAR(f.clv, want, 1e-9 * want);
}

TEST(FactsOfTest, TheSelectedPurchaseModelGivesTheOutlook) {
  const BgNbdHistory h{2, 30.43, 38.86};
  PurchaseModel purchase;
  purchase.kind = PurchaseModelKind::kBgNbd;
  const PurchaseOutlook bg = PurchaseOutlookOf(purchase, h, 39);
  EXPECT_EQ(bg.p_alive, BgNbdProbabilityAlive(purchase.bgnbd, h));
  EXPECT_EQ(bg.expected_transactions, BgNbdExpectedTransactions(purchase.bgnbd, h, 39));
  EXPECT_EQ(bg.p_no_transaction, BgNbdProbabilityNoTransaction(purchase.bgnbd, h, 39));
  purchase.kind = PurchaseModelKind::kParetoNbd;
  const PurchaseOutlook pn = PurchaseOutlookOf(purchase, h, 39);
  EXPECT_EQ(pn.p_alive, ParetoNbdProbabilityAlive(purchase.pareto_nbd, h));
  EXPECT_EQ(pn.expected_transactions, ParetoNbdExpectedTransactions(purchase.pareto_nbd, h, 39));
  EXPECT_EQ(pn.p_no_transaction, ParetoNbdProbabilityNoTransaction(purchase.pareto_nbd, h, 39));
}

TEST(FactsOfTest, ComplaintsCountOnlyInTheLast90DaysAndNotAfterAsOf) {
  StateBuilder b;
  b.Complaint(5).Complaint(10).Complaint(60).Complaint(98).Complaint(105);
  const CustomerFacts f = FactsOf(b.state(), Day(100), Model{});
  // 5: 95 days ago; 10: 90 days ago (the window's edge counts); 105: after as_of.
  EXPECT_EQ(f.complaints_recent, 3);
  ASSERT_TRUE(f.days_since_complaint.has_value());
  EXPECT_DOUBLE_EQ(*f.days_since_complaint, 2);

  const CustomerFacts later = FactsOf(b.state(), Day(200), Model{});
  EXPECT_EQ(later.complaints_recent, 0);
  EXPECT_DOUBLE_EQ(*later.days_since_complaint, 95);

  const CustomerFacts before = FactsOf(b.state(), Day(4), Model{});
  EXPECT_EQ(before.complaints_recent, 0);
  EXPECT_FALSE(before.days_since_complaint.has_value());
}

TEST(FactsOfTest, LatestSatisfactionIsTheLatestAnswerAsOfAsOf) {
  StateBuilder b;
  b.Survey(50, 8).Survey(10, 3).Survey(120, 1);
  EXPECT_FALSE(FactsOf(b.state(), Day(5), Model{}).latest_satisfaction.has_value());
  EXPECT_EQ(FactsOf(b.state(), Day(30), Model{}).latest_satisfaction, 3);
  EXPECT_EQ(FactsOf(b.state(), Day(100), Model{}).latest_satisfaction, 8);
  EXPECT_EQ(FactsOf(b.state(), Day(120), Model{}).latest_satisfaction, 1);
  EXPECT_FALSE(FactsOf(CustomerState{}, Day(100), Model{}).latest_satisfaction.has_value());
}

// The decline of one channel, from the contacts' times, by definition.
double DeclineByHand(const std::vector<double>& contact_days, double as_of_day) {
  double recent = 0, usual = 0;
  for (double d : contact_days) {
    recent += std::exp(-(as_of_day - d) / 30);
    usual += std::exp(-(as_of_day - d) / 180);
  }
  const double expected_recent = usual * 30 / 180;
  if (expected_recent < 1) return 0;
  return std::clamp(1 - recent / expected_recent, 0.0, 1.0);
}

TEST(FactsOfTest, ASteadyContactHasNoDecline) {
  StateBuilder b;
  std::vector<double> days;
  for (int day = 0; day <= 300; day += 3) {
    b.Contact(day, Channel::kPhone);
    days.push_back(day);
  }
  const CustomerFacts f = FactsOf(b.state(), Day(300.5), Model{});
  EXPECT_EQ(f.contact_decline, 0);
  EXPECT_EQ(f.declining_channel, Channel::kUnspecified);
  EXPECT_EQ(DeclineByHand(days, 300.5), 0);
}

TEST(FactsOfTest, ContactDeclineApproachesOneAfterSilenceAndNamesTheChannel) {
  StateBuilder b;
  std::vector<double> days;
  for (int day = 0; day <= 300; day += 3) {
    b.Contact(day, Channel::kPhone);
    days.push_back(day);
  }
  b.Contact(100, Channel::kWeb).Contact(250, Channel::kWeb);  // too little to say
  const CustomerFacts f = FactsOf(b.state(), Day(420), Model{});
  EXPECT_GT(f.contact_decline, 0.9);
  EXPECT_LT(f.contact_decline, 1);
  EXPECT_NEAR(f.contact_decline, DeclineByHand(days, 420), 1e-9);
  EXPECT_EQ(f.declining_channel, Channel::kPhone);
  // Half-way through, part of the decline.
  const CustomerFacts mid = FactsOf(b.state(), Day(330), Model{});
  EXPECT_NEAR(mid.contact_decline, DeclineByHand(days, 330), 1e-9);
  EXPECT_GT(mid.contact_decline, 0);
  EXPECT_LT(mid.contact_decline, f.contact_decline);
}

TEST(FactsOfTest, ContactCountersAreOrderIndependent) {
  StateBuilder in_order, shuffled;
  std::vector<double> days;
  for (int day = 0; day <= 150; day += 5) days.push_back(day);
  for (double d : days) in_order.Contact(d, Channel::kMail);
  for (std::size_t i = days.size(); i-- > 0;) shuffled.Contact(days[i], Channel::kMail);
  const double want = DeclineByHand(days, 220);
  EXPECT_NEAR(FactsOf(in_order.state(), Day(220), Model{}).contact_decline, want, 1e-9);
  EXPECT_NEAR(FactsOf(shuffled.state(), Day(220), Model{}).contact_decline, want, 1e-9);
  EXPECT_GT(want, 0.5);
}

TEST(FactsOfTest, RecentCancellationAndReturnRate) {
  StateBuilder b;
  b.Purchase(1).Purchase(2).Purchase(3).Purchase(4).Return(5).Cancel(10);
  const CustomerFacts f = FactsOf(b.state(), Day(100), Model{});
  ASSERT_TRUE(f.days_since_cancellation.has_value());
  EXPECT_DOUBLE_EQ(*f.days_since_cancellation, 90);
  EXPECT_EQ(ChurnFeatures(f)[10], 1);  // 90 days ago: still recent
  const CustomerFacts later = FactsOf(b.state(), Day(100.5), Model{});
  EXPECT_EQ(ChurnFeatures(later)[10], 0);
  EXPECT_FALSE(FactsOf(b.state(), Day(9), Model{}).days_since_cancellation.has_value());

  EXPECT_EQ(f.returns, 1u);
  EXPECT_DOUBLE_EQ(f.return_rate, 0.25);
  b.Return(6).Return(7).Return(8).Return(9);  // more returns than purchases: capped at 1
  EXPECT_DOUBLE_EQ(FactsOf(b.state(), Day(100), Model{}).return_rate, 1);
  StateBuilder returns_only;
  returns_only.Return(1);
  EXPECT_EQ(FactsOf(returns_only.state(), Day(10), Model{}).return_rate, 0);
}

TEST(FactsOfTest, TransactionsInTheLast90And180DaysAreDistinctDaysUpToAsOf) {
  StateBuilder b;
  b.Purchase(0).Purchase(20).Purchase(110).Purchase(110.5).Purchase(150).Purchase(200);
  // As of day 200: 200 − 0 > 180; 200 − 20 = 180 counts; 200 − 110 = 90 counts.
  const CustomerFacts f = FactsOf(b.state(), Day(200.5), Model{});
  EXPECT_EQ(f.transactions_180d, 4);
  EXPECT_EQ(f.transactions_90d, 3);
  // As of day 120: days 150 and 200 are later and not counted.
  const CustomerFacts earlier = FactsOf(b.state(), Day(120), Model{});
  EXPECT_EQ(earlier.transactions_180d, 3);
  EXPECT_EQ(earlier.transactions_90d, 1);  // day 110; days 20 and 0 are 100 and 120 days ago
  const std::vector<double> v = ChurnFeatures(earlier);
  EXPECT_DOUBLE_EQ(v[12], std::log(2));
  EXPECT_DOUBLE_EQ(v[13], std::log(4));
  EXPECT_EQ(FactsOf(b.state(), Day(500), Model{}).transactions_180d, 0);
}

// --- ChurnFeatures -----------------------------------------------------------

TEST(ChurnFeaturesTest, OneValuePerNameInOrder) {
  CustomerFacts f;
  f.has_purchase = true;
  f.expected_purchases = 0.95;
  f.p_alive = 0.6;
  f.recency_days = 42;
  f.rhythm_days = 14;
  f.transactions = 3;
  f.monetary = 20;
  f.tenure_days = 70;
  f.complaints_recent = 2;
  f.latest_satisfaction = 4;
  f.contact_decline = 0.25;
  f.days_since_cancellation = 30;
  f.return_rate = 0.5;
  f.transactions_90d = 1;
  f.transactions_180d = 2;
  f.p_no_purchase = 0.8;
  const std::vector<double> v = ChurnFeatures(f);
  ASSERT_EQ(v.size(), kChurnFeatureNames.size());
  ASSERT_EQ(v.size(), 17u);
  EXPECT_EQ(kChurnFeatureNames[0], "log_expected_purchases");
  EXPECT_NEAR(v[0], 0, 1e-12);  // log(0.05 + 0.95)
  EXPECT_EQ(kChurnFeatureNames[1], "p_alive");
  EXPECT_DOUBLE_EQ(v[1], 0.6);
  EXPECT_EQ(kChurnFeatureNames[2], "recency_vs_rhythm");
  EXPECT_DOUBLE_EQ(v[2], 3);
  EXPECT_EQ(kChurnFeatureNames[3], "log_recency_days");
  EXPECT_DOUBLE_EQ(v[3], std::log(43));
  EXPECT_EQ(kChurnFeatureNames[4], "log_transactions");
  EXPECT_DOUBLE_EQ(v[4], std::log(4));
  EXPECT_EQ(kChurnFeatureNames[5], "log_monetary");
  EXPECT_DOUBLE_EQ(v[5], std::log(21));
  EXPECT_EQ(kChurnFeatureNames[6], "log_tenure_days");
  EXPECT_DOUBLE_EQ(v[6], std::log(71));
  EXPECT_EQ(kChurnFeatureNames[7], "recent_complaints");
  EXPECT_DOUBLE_EQ(v[7], 2);
  EXPECT_EQ(kChurnFeatureNames[8], "dissatisfaction");
  EXPECT_DOUBLE_EQ(v[8], 0.6);
  EXPECT_EQ(kChurnFeatureNames[9], "contact_decline");
  EXPECT_DOUBLE_EQ(v[9], 0.25);
  EXPECT_EQ(kChurnFeatureNames[10], "recent_cancellation");
  EXPECT_DOUBLE_EQ(v[10], 1);
  EXPECT_EQ(kChurnFeatureNames[11], "return_rate");
  EXPECT_DOUBLE_EQ(v[11], 0.5);
  EXPECT_EQ(kChurnFeatureNames[12], "recent_transactions");
  EXPECT_DOUBLE_EQ(v[12], std::log(2));
  EXPECT_EQ(kChurnFeatureNames[13], "half_year_transactions");
  EXPECT_DOUBLE_EQ(v[13], std::log(3));
  EXPECT_EQ(kChurnFeatureNames[14], "one_time_buyer");
  EXPECT_DOUBLE_EQ(v[14], 0);
  EXPECT_EQ(kChurnFeatureNames[15], "recency_x_frequency");
  EXPECT_DOUBLE_EQ(v[15], std::log(43) * std::log(4));
  EXPECT_EQ(kChurnFeatureNames[16], "logit_no_purchase");
  EXPECT_DOUBLE_EQ(v[16], std::log(0.8 / 0.2));

  f.transactions = 1;
  EXPECT_DOUBLE_EQ(ChurnFeatures(f)[14], 1);
  EXPECT_DOUBLE_EQ(ChurnFeatures(f)[15], std::log(43) * std::log(2));
}

TEST(ChurnFeaturesTest, RecencyVsRhythmIsCappedAndAProspectUsesTenure) {
  CustomerFacts f;
  f.has_purchase = true;
  f.recency_days = 500;
  f.rhythm_days = 7;
  EXPECT_DOUBLE_EQ(ChurnFeatures(f)[2], 10);
  f.rhythm_days = 0;  // a single purchase: the rhythm is max(tenure, 30)
  f.recency_days = 15;
  f.tenure_days = 15;
  EXPECT_DOUBLE_EQ(ChurnFeatures(f)[2], 0.5);
  f.recency_days = 60;
  f.tenure_days = 60;
  EXPECT_DOUBLE_EQ(ChurnFeatures(f)[2], 1);

  CustomerFacts prospect;
  prospect.tenure_days = 10;
  const std::vector<double> v = ChurnFeatures(prospect);
  EXPECT_DOUBLE_EQ(v[2], 10.0 / 30);
  EXPECT_DOUBLE_EQ(v[3], std::log(11));
  EXPECT_DOUBLE_EQ(v[0], std::log(0.05));
  EXPECT_TRUE(std::isnan(v[8]));  // no survey: missing, not 10/10
  EXPECT_EQ(v[10], 0);            // no cancellation
  EXPECT_EQ(v[14], 0);            // not even one transaction
  EXPECT_EQ(v[15], 0);            // log(1 + 0 transactions) = 0
}

TEST(ChurnFeaturesTest, FromFactsOfAStateEveryValueIsFinite) {
  StateBuilder b;
  b.Purchase(0, 50).Purchase(30, 20).Complaint(40).Survey(45, 2).Return(50, 5);
  const CustomerFacts f = FactsOf(b.state(), Day(60), Model{});
  const std::vector<double> v = ChurnFeatures(f);
  ASSERT_EQ(v.size(), kChurnFeatureNames.size());
  for (std::size_t i = 0; i < v.size(); ++i) EXPECT_TRUE(std::isfinite(v[i])) << i;
  EXPECT_DOUBLE_EQ(v[2], 1);  // 30 days since the last purchase, every 30
  EXPECT_DOUBLE_EQ(v[7], 1);
  EXPECT_DOUBLE_EQ(v[8], 0.8);
  EXPECT_DOUBLE_EQ(v[11], 0.5);
  EXPECT_DOUBLE_EQ(v[5], std::log1p(32.5));  // (70 − 5) / 2
}

// --- Appetence -----------------------------------------------------------------

Model CatalogueModel() {
  Model model;
  model.catalogue = {{"TV", "video"}, {"PROJ", "video"}, {"CAM", "video"}, {"RADIO", "audio"}};
  return model;
}

TEST(ProductFactsOfTest, InterestFadesOverThirtyDays) {
  StateBuilder b;
  b.Contact(30, Channel::kWeb, "TV").CampaignResponse(40, "TV").Contact(20, Channel::kWeb, "RADIO");
  const Model model = CatalogueModel();
  const AppetenceModel offer{"TV", "video", {}};
  const ProductFacts p = ProductFactsOf(b.state(), Day(100), offer, model);
  EXPECT_EQ(p.interactions, 2u);
  ASSERT_TRUE(p.days_since_interaction.has_value());
  EXPECT_DOUBLE_EQ(*p.days_since_interaction, 60);
  EXPECT_FALSE(p.owns);
  const CustomerFacts f = FactsOf(b.state(), Day(100), model);
  const std::vector<double> v = AppetenceFeatures(f, p);
  ASSERT_EQ(v.size(), kAppetenceFeatureNames.size());
  EXPECT_NEAR(v[0], std::log(3) * std::exp(-2.0), 1e-12);
  // Sooner after the interest, more of it.
  const ProductFacts soon = ProductFactsOf(b.state(), Day(40), offer, model);
  EXPECT_NEAR(AppetenceFeatures(f, soon)[0], std::log(3), 1e-12);

  const ProductFacts never = ProductFactsOf(b.state(), Day(100), {"CAM", "video", {}}, model);
  EXPECT_EQ(never.interactions, 0u);
  EXPECT_FALSE(never.days_since_interaction.has_value());
  EXPECT_EQ(AppetenceFeatures(f, never)[0], 0);
}

// Interest fades from the last contact or response about the product; buying,
// returning or cancelling it is not interest shown in it.
TEST(ProductFactsOfTest, InterestFadesFromTheLastInteractionNotTheLastPurchase) {
  StateBuilder b;
  b.Contact(10, Channel::kWeb, "TV").Purchase(90, 500, "TV");
  const Model model = CatalogueModel();
  const ProductFacts p = ProductFactsOf(b.state(), Day(100), {"TV", "video", {}}, model);
  EXPECT_EQ(p.interactions, 1u);
  ASSERT_TRUE(p.days_since_interaction.has_value());
  EXPECT_DOUBLE_EQ(*p.days_since_interaction, 90);
}

TEST(ProductFactsOfTest, OwnsAProductBoughtAndNotCancelledOrReturned) {
  const Model model = CatalogueModel();
  const AppetenceModel offer{"TV", "video", {}};
  StateBuilder b;
  b.Purchase(1, 500, "TV");
  EXPECT_TRUE(ProductFactsOf(b.state(), Day(10), offer, model).owns);
  b.Return(3, 500, "TV");
  EXPECT_FALSE(ProductFactsOf(b.state(), Day(10), offer, model).owns);
  b.Purchase(5, 500, "TV");
  EXPECT_TRUE(ProductFactsOf(b.state(), Day(10), offer, model).owns);
  b.Cancel(7, "TV");
  const ProductFacts p = ProductFactsOf(b.state(), Day(10), offer, model);
  EXPECT_FALSE(p.owns);
  EXPECT_EQ(AppetenceFeatures(FactsOf(b.state(), Day(10), model), p)[1], 0);
  b.Purchase(8, 500, "TV");
  EXPECT_EQ(AppetenceFeatures(FactsOf(b.state(), Day(10), model),
                              ProductFactsOf(b.state(), Day(10), offer, model))[1],
            1);
  // A purchase is not an interaction.
  EXPECT_EQ(ProductFactsOf(b.state(), Day(10), offer, model).interactions, 0u);
}

TEST(ProductFactsOfTest, RelatedPurchasesCountOnlyOtherProductsOfTheSameCategory) {
  const Model model = CatalogueModel();
  StateBuilder b;
  b.Purchase(1, 10, "TV").Purchase(2, 10, "PROJ").Purchase(3, 10, "PROJ");
  b.Purchase(4, 10, "CAM").Purchase(5, 10, "RADIO").Purchase(6, 10, "UNLISTED");
  const ProductFacts tv = ProductFactsOf(b.state(), Day(10), {"TV", "video", {}}, model);
  EXPECT_EQ(tv.related_purchases, 3u);  // 2 PROJ + 1 CAM; not TV itself, RADIO nor UNLISTED
  EXPECT_DOUBLE_EQ(AppetenceFeatures(FactsOf(b.state(), Day(10), model), tv)[2], std::log(4));
  EXPECT_EQ(ProductFactsOf(b.state(), Day(10), {"RADIO", "audio", {}}, model).related_purchases,
            0u);
  // An offer without a category has no related products.
  EXPECT_EQ(ProductFactsOf(b.state(), Day(10), {"TV", "", {}}, model).related_purchases, 0u);
  // The offer's category decides, not the catalogue's entry for the offer.
  EXPECT_EQ(ProductFactsOf(b.state(), Day(10), {"NEW", "audio", {}}, model).related_purchases, 1u);
}

TEST(AppetenceFeaturesTest, OneValuePerNameInOrder) {
  CustomerFacts f;
  f.has_purchase = true;
  f.recency_days = 9;
  f.transactions = 4;
  f.monetary = 99;
  f.p_alive = 0.8;
  f.campaign_responses = 2;
  ProductFacts p;
  p.interactions = 1;
  p.days_since_interaction = 0;
  p.owns = true;
  p.related_purchases = 6;
  const std::vector<double> v = AppetenceFeatures(f, p);
  ASSERT_EQ(v.size(), kAppetenceFeatureNames.size());
  EXPECT_EQ(kAppetenceFeatureNames[0], "product_interest");
  EXPECT_DOUBLE_EQ(v[0], std::log(2));
  EXPECT_EQ(kAppetenceFeatureNames[1], "owns_product");
  EXPECT_DOUBLE_EQ(v[1], 1);
  EXPECT_EQ(kAppetenceFeatureNames[2], "related_purchases");
  EXPECT_DOUBLE_EQ(v[2], std::log(7));
  EXPECT_EQ(kAppetenceFeatureNames[3], "campaign_responses");
  EXPECT_DOUBLE_EQ(v[3], std::log(3));
  EXPECT_EQ(kAppetenceFeatureNames[4], "log_recency_days");
  EXPECT_DOUBLE_EQ(v[4], std::log(10));
  EXPECT_EQ(kAppetenceFeatureNames[5], "log_transactions");
  EXPECT_DOUBLE_EQ(v[5], std::log(5));
  EXPECT_EQ(kAppetenceFeatureNames[6], "log_monetary");
  EXPECT_DOUBLE_EQ(v[6], std::log(100));
  EXPECT_EQ(kAppetenceFeatureNames[7], "p_alive");
  EXPECT_DOUBLE_EQ(v[7], 0.8);

  CustomerFacts prospect;
  prospect.tenure_days = 19;
  EXPECT_DOUBLE_EQ(AppetenceFeatures(prospect, ProductFacts{})[4], std::log(20));
}

// --- EvaluateLogistic ----------------------------------------------------------

TEST(EvaluateLogisticTest, ProbabilityIsTheSigmoidOfTheCentredWeightedSum) {
  LogisticModel model;
  model.intercept = 0.3;
  model.weights = {{"a", 2}, {"b", -0.5}, {"zzz", 9}};  // "zzz" is not a feature here
  model.means = {{"a", 1}, {"c", 50}};
  const std::vector<std::string_view> names = {"a", "b", "c"};
  const std::vector<double> values = {3, 4, 100};
  const LogisticScore score = EvaluateLogistic(model, names, values);
  const double z = 0.3 + 2 * (3 - 1) + -0.5 * (4 - 0);  // "c" has no weight
  EXPECT_NEAR(score.probability, 1 / (1 + std::exp(-z)), 1e-12);
  ASSERT_EQ(score.contributions.size(), 2u);
  EXPECT_EQ(score.contributions[0].feature, 0u);
  EXPECT_DOUBLE_EQ(score.contributions[0].weight, 4);
  EXPECT_EQ(score.contributions[1].feature, 1u);
  EXPECT_DOUBLE_EQ(score.contributions[1].weight, -2);
}

TEST(EvaluateLogisticTest, ContributionsAreSortedByMagnitudeAndZerosLeftOut) {
  LogisticModel model;
  model.weights = {{"a", 1}, {"b", -3}, {"c", 0.5}, {"d", 7}};
  model.means = {{"a", 0.5}, {"d", 2}};
  const std::vector<std::string_view> names = {"a", "b", "c", "d"};
  const std::vector<double> values = {1, 1, 1, 2};  // d is at its mean: no contribution
  const LogisticScore score = EvaluateLogistic(model, names, values);
  ASSERT_EQ(score.contributions.size(), 3u);
  EXPECT_EQ(score.contributions[0].feature, 1u);
  EXPECT_DOUBLE_EQ(score.contributions[0].weight, -3);
  EXPECT_EQ(score.contributions[1].feature, 0u);
  EXPECT_DOUBLE_EQ(score.contributions[1].weight, 0.5);
  EXPECT_EQ(score.contributions[2].feature, 2u);
  EXPECT_DOUBLE_EQ(score.contributions[2].weight, 0.5);  // ties keep feature order
  EXPECT_NEAR(score.probability, 1 / (1 + std::exp(-(-3 + 0.5 + 0.5))), 1e-12);
}

TEST(EvaluateLogisticTest, AnEmptyModelIsOneHalf) {
  const std::vector<std::string_view> names = {"a"};
  const std::vector<double> values = {5};
  const LogisticScore score = EvaluateLogistic(LogisticModel{}, names, values);
  EXPECT_DOUBLE_EQ(score.probability, 0.5);
  EXPECT_TRUE(score.contributions.empty());
}

TEST(EvaluateLogisticTest, AMissingValueIsAtTheMeanAndContributesNothing) {
  LogisticModel model;
  model.intercept = 0.25;
  model.weights = {{"a", 2}, {"b", 3}};
  model.means = {{"a", 0.5}, {"b", 0.4}};
  const std::array<std::string_view, 2> names = {"a", "b"};
  const std::array<double, 2> missing = {1.5, kMissingFeature};
  const std::array<double, 2> at_mean = {1.5, 0.4};
  const LogisticScore score = EvaluateLogistic(model, names, missing);
  EXPECT_EQ(score.probability, EvaluateLogistic(model, names, at_mean).probability);
  ASSERT_EQ(score.contributions.size(), 1u);
  EXPECT_EQ(score.contributions[0].feature, 0u);
}

}  // namespace
}  // namespace crm
