#include "core/alerts.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "core/customer_state.h"
#include "tests/core/test_touchpoints.h"

namespace crm {
namespace {

using testing::Day;
using testing::MakeTouchpoint;
using Type = TouchpointType;

const CustomerId kCustomer("c1");

// --- UpdateAlert -----------------------------------------------------------

TEST(UpdateAlertTest, RaisesAtTheThresholdAndClearsBelowTheLowerOne) {
  const AlertPolicy policy;  // raise 0.7, clear 0.5
  AlertState state;
  EXPECT_EQ(UpdateAlert(kCustomer, 0.69, Segment::kA, Day(0), policy, state).transition,
            AlertTransition::kNone);
  const AlertOutcome raised = UpdateAlert(kCustomer, 0.7, Segment::kA, Day(1), policy, state);
  EXPECT_EQ(raised.transition, AlertTransition::kRaised);
  EXPECT_EQ(raised.alert_id, AlertId(kCustomer, 1));
  EXPECT_DOUBLE_EQ(raised.previous_churn, 0.69);
  EXPECT_TRUE(state.open);
  EXPECT_EQ(state.raised, 1u);
  EXPECT_EQ(state.raised_at, Day(1));
  // Between the thresholds the alert stays open, and nothing is said.
  EXPECT_EQ(UpdateAlert(kCustomer, 0.55, Segment::kA, Day(2), policy, state).transition,
            AlertTransition::kNone);
  EXPECT_EQ(UpdateAlert(kCustomer, 0.9, Segment::kA, Day(3), policy, state).transition,
            AlertTransition::kNone);
  const AlertOutcome cleared = UpdateAlert(kCustomer, 0.49, Segment::kA, Day(4), policy, state);
  EXPECT_EQ(cleared.transition, AlertTransition::kCleared);
  EXPECT_EQ(cleared.alert_id, AlertId(kCustomer, 1));  // the alert it closes
  EXPECT_DOUBLE_EQ(cleared.previous_churn, 0.9);
  EXPECT_FALSE(state.open);
  EXPECT_DOUBLE_EQ(state.last_churn, 0.49);
}

TEST(UpdateAlertTest, ACustomerOscillatingAroundTheThresholdDoesNotFlap) {
  const AlertPolicy policy;
  AlertState state;
  int raised = 0, cleared = 0;
  for (int day = 0; day < 100; ++day) {
    const double churn = day % 2 == 0 ? 0.68 : 0.72;  // around raise, never below clear
    const AlertOutcome outcome =
        UpdateAlert(kCustomer, churn, Segment::kB, Day(day), policy, state);
    raised += outcome.transition == AlertTransition::kRaised;
    cleared += outcome.transition == AlertTransition::kCleared;
  }
  EXPECT_EQ(raised, 1);
  EXPECT_EQ(cleared, 0);
}

TEST(UpdateAlertTest, TheCooldownHoldsBackASecondAlertThenLetsItThrough) {
  AlertPolicy policy;
  policy.defaults.cooldown = std::chrono::days(14);
  AlertState state;
  ASSERT_EQ(UpdateAlert(kCustomer, 0.8, Segment::kA, Day(0), policy, state).transition,
            AlertTransition::kRaised);
  ASSERT_EQ(UpdateAlert(kCustomer, 0.1, Segment::kA, Day(2), policy, state).transition,
            AlertTransition::kCleared);
  // At risk again 5 days after the first alert: too soon.
  EXPECT_EQ(UpdateAlert(kCustomer, 0.9, Segment::kA, Day(5), policy, state).transition,
            AlertTransition::kNone);
  EXPECT_FALSE(state.open);
  // Still at risk when the cooldown has passed: the second alert.
  const AlertOutcome second = UpdateAlert(kCustomer, 0.9, Segment::kA, Day(14), policy, state);
  EXPECT_EQ(second.transition, AlertTransition::kRaised);
  EXPECT_EQ(second.alert_id, AlertId(kCustomer, 2));
  EXPECT_EQ(state.raised, 2u);
}

TEST(UpdateAlertTest, EachSegmentHasItsOwnThresholds) {
  AlertPolicy policy;
  policy.by_segment[Segment::kA] = AlertThresholds{.raise = 0.4, .clear = 0.2};
  AlertState a, c;
  EXPECT_EQ(UpdateAlert(kCustomer, 0.45, Segment::kA, Day(0), policy, a).transition,
            AlertTransition::kRaised);
  EXPECT_EQ(UpdateAlert(kCustomer, 0.45, Segment::kC, Day(0), policy, c).transition,
            AlertTransition::kNone);  // C uses the defaults
  EXPECT_EQ(&policy.For(Segment::kB), &policy.defaults);
}

TEST(AlertIdTest, SameOnEveryReplayDistinctPerCustomerAndCrossing) {
  EXPECT_EQ(AlertId(kCustomer, 1), AlertId(CustomerId("c1"), 1));
  std::set<std::string> ids;
  for (const char* customer : {"c1", "c2", "c10", "loyal-000001"}) {
    for (std::uint64_t n = 1; n <= 50; ++n) ids.insert(AlertId(CustomerId(customer), n));
  }
  EXPECT_EQ(ids.size(), 200u);
}

TEST(AlertPolicyTest, Validation) {
  EXPECT_TRUE(ValidateAlertPolicy(AlertPolicy{}).ok());
  AlertPolicy inverted;
  inverted.defaults = {.raise = 0.5, .clear = 0.6};
  EXPECT_FALSE(ValidateAlertPolicy(inverted).ok());
  AlertPolicy out_of_range;
  out_of_range.by_segment[Segment::kA] = {.raise = 1.2, .clear = 0.5};
  const absl::Status status = ValidateAlertPolicy(out_of_range);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(std::string(status.message()).find("segment A"), std::string::npos);
  AlertPolicy free_phone;
  free_phone.channel_cost[static_cast<int>(Channel::kPhone)] = 0;
  EXPECT_NE(std::string(ValidateAlertPolicy(free_phone).message()).find("PHONE"),
            std::string::npos);
}

// --- What to do, on which channel ----------------------------------------------

TEST(RecommendedActionTest, FromTheValueQuadrantAndTheRisk) {
  const AlertThresholds t;  // raise 0.7
  const auto action = [&](ValueQuadrant q, double churn) {
    return RecommendAction(q, LifecycleStage::kMaturity, churn, t);
  };
  EXPECT_EQ(action(ValueQuadrant::kDesirable, 0.8), RecommendedAction::kWinBack);
  EXPECT_EQ(action(ValueQuadrant::kMature, 0.7), RecommendedAction::kWinBack);
  EXPECT_EQ(action(ValueQuadrant::kDesirable, 0.6), RecommendedAction::kRetain);
  EXPECT_EQ(action(ValueQuadrant::kUnderDeveloped, 0.9), RecommendedAction::kDevelop);
  EXPECT_EQ(action(ValueQuadrant::kUndesirable, 0.9), RecommendedAction::kNone);
  // Leaving (in decline) is still worth a win-back.
  EXPECT_EQ(RecommendAction(ValueQuadrant::kMature, LifecycleStage::kDecline, 0.9, t),
            RecommendedAction::kWinBack);
}

TEST(RecommendedActionTest, TheLostAreReactivatedWhenValuableAndLetGoOtherwise) {
  const AlertThresholds t;
  for (double churn : {0.3, 0.99}) {
    EXPECT_EQ(RecommendAction(ValueQuadrant::kDesirable, LifecycleStage::kLost, churn, t),
              RecommendedAction::kReactivate);
    EXPECT_EQ(RecommendAction(ValueQuadrant::kMature, LifecycleStage::kLost, churn, t),
              RecommendedAction::kReactivate);
    EXPECT_EQ(RecommendAction(ValueQuadrant::kUnderDeveloped, LifecycleStage::kLost, churn, t),
              RecommendedAction::kNone);
    EXPECT_EQ(RecommendAction(ValueQuadrant::kUndesirable, LifecycleStage::kLost, churn, t),
              RecommendedAction::kNone);
  }
}

TEST(RecommendedActionTest, ANewCustomerAtRiskIsOnboarded) {
  const AlertThresholds t;  // raise 0.7
  for (ValueQuadrant q : kValueQuadrants) {
    EXPECT_EQ(RecommendAction(q, LifecycleStage::kDevelopment, 0.75, t),
              RecommendedAction::kOnboard);
  }
  // Not at risk: the quadrant's action.
  EXPECT_EQ(RecommendAction(ValueQuadrant::kUnderDeveloped, LifecycleStage::kDevelopment, 0.4, t),
            RecommendedAction::kDevelop);
}

class RecommendedChannelTest : public ::testing::Test {
 protected:
  void Contact(Channel channel, int times) {
    for (int i = 0; i < times; ++i) Apply(MakeTouchpoint(Type::kContact, NextId(), 1, channel));
  }
  void Consent(Channel channel, bool granted, double day) {
    Touchpoint tp = MakeTouchpoint(Type::kConsent, NextId(), day, channel);
    tp.consent_granted = granted;
    Apply(tp);
  }
  void Apply(const Touchpoint& tp) { ApplyTouchpoint(tp, StateLimits{}, state_); }
  std::string NextId() { return "e" + std::to_string(next_++); }

  CustomerState state_;
  AlertPolicy policy_;
  int next_ = 0;
};

TEST_F(RecommendedChannelTest, NoConsentNoChannel) {
  Contact(Channel::kPhone, 10);  // used a lot, never consented: not for marketing
  EXPECT_EQ(RecommendedChannel(state_, 0, policy_), Channel::kUnspecified);
}

TEST_F(RecommendedChannelTest, ThePreferredConsentedChannelWeighedByItsCost) {
  Contact(Channel::kPhone, 10);
  Contact(Channel::kEmail, 1);
  Consent(Channel::kPhone, true, 2);
  EXPECT_EQ(RecommendedChannel(state_, 0, policy_), Channel::kPhone);
  Consent(Channel::kEmail, true, 2);
  // Phone: 11 / 4 = 2.75; e-mail: 2 / 0.2 = 10: the right channel at the right cost.
  EXPECT_EQ(RecommendedChannel(state_, 0, policy_), Channel::kEmail);
  policy_.channel_cost[static_cast<int>(Channel::kEmail)] = 5;
  EXPECT_EQ(RecommendedChannel(state_, 0, policy_), Channel::kPhone);
}

TEST_F(RecommendedChannelTest, AValuableCustomerIsCalledWhenTheyConsented) {
  Contact(Channel::kPhone, 1);
  Contact(Channel::kEmail, 10);
  Consent(Channel::kEmail, true, 2);
  const double valuable = policy_.personal_contact_value;
  // No personal channel consented: the usual choice, whatever the value.
  EXPECT_EQ(RecommendedChannel(state_, valuable, policy_), Channel::kEmail);
  Consent(Channel::kPhone, true, 2);
  EXPECT_EQ(RecommendedChannel(state_, valuable / 2, policy_), Channel::kEmail);
  EXPECT_EQ(RecommendedChannel(state_, valuable, policy_), Channel::kPhone);
  Consent(Channel::kFaceToFace, true, 2);
  Contact(Channel::kFaceToFace, 20);  // 21 / 10 = 2.1 against the phone's 2 / 4
  EXPECT_EQ(RecommendedChannel(state_, valuable, policy_), Channel::kFaceToFace);
  EXPECT_TRUE(IsPersonalChannel(Channel::kPhone));
  EXPECT_FALSE(IsPersonalChannel(Channel::kEmail));
}

TEST_F(RecommendedChannelTest, AnOptOutTakesEffectAtOnceAndAllOutMeansNone) {
  Consent(Channel::kEmail, true, 2);
  Consent(Channel::kSms, true, 2);
  Contact(Channel::kEmail, 3);
  EXPECT_EQ(RecommendedChannel(state_, 0, policy_), Channel::kEmail);
  Consent(Channel::kEmail, false, 3);
  EXPECT_EQ(RecommendedChannel(state_, 0, policy_), Channel::kSms);
  Consent(Channel::kSms, false, 3);
  EXPECT_EQ(RecommendedChannel(state_, 0, policy_), Channel::kUnspecified);
  // A consent older than the opt-out does not bring the channel back.
  Consent(Channel::kSms, true, 2.5);
  EXPECT_EQ(RecommendedChannel(state_, 0, policy_), Channel::kUnspecified);
}

// --- When to look again ----------------------------------------------------------

// Churn rising linearly with silence: day d from Day(0) has churn d / 100.
double Ramp(Timestamp t) { return DaysBetween(Day(0), t) / 100; }

// A risk precision no move reaches (Ramp is unbounded): only the alert's own crossings count.
constexpr double kOff = 1e9;

TEST(NextEvaluationTest, ChurnMovingByThePrecisionIsALookToo) {
  const AlertThresholds t;  // raise 0.7: reached on day 70
  AlertState state;
  state.last_churn = Ramp(Day(20));  // 0.2 at this look
  const Timestamp next = NextLook(Ramp, Day(20), state, t, 0.05, std::chrono::days(365));
  EXPECT_GE(next, Day(25));  // 0.25: moved by 0.05
  EXPECT_LE(next, Day(25) + std::chrono::hours(1));
  // Falling churn counts as much as rising.
  const auto falling = [](Timestamp at) { return 0.6 - Ramp(at); };  // below raise: no alert
  state.last_churn = falling(Day(20));
  const Timestamp down = NextLook(falling, Day(20), state, t, 0.05, std::chrono::days(365));
  EXPECT_GE(down, Day(25));
  EXPECT_LE(down, Day(25) + std::chrono::hours(1));
  // A flat churn needs no look before the horizon.
  const auto flat = [](Timestamp) { return 0.3; };
  state.last_churn = 0.3;
  EXPECT_EQ(NextLook(flat, Day(20), state, t, 0.05, std::chrono::days(30)), Day(50));
}

TEST(NextEvaluationTest, WhenSilenceAloneWouldRaiseTheAlert) {
  const AlertThresholds t;  // raise 0.7: reached on day 70
  const Timestamp next = NextLook(Ramp, Day(0), AlertState{}, t, kOff, std::chrono::days(365));
  EXPECT_GE(next, Day(70));
  EXPECT_LE(next, Day(70) + std::chrono::hours(1));
}

// Curves shaped like the churn model's (a logistic of log silence), steep or
// slow: the look found is the first hour at which something changes, and
// takes fewer looks at churn than halving the 90 days down to the hour would.
TEST(NextEvaluationTest, FindsTheHourOfChangeOnChurnShapedCurvesInFewLooks) {
  const AlertThresholds t;  // raise 0.7, clear 0.5
  const double precision = 0.02;
  const auto horizon = std::chrono::days(90);
  int curves = 0, evaluations = 0;
  for (double steepness : {0.5, 1.0, 2.0, 4.0}) {
    for (double midpoint : {3.0, 15.0, 40.0, 200.0}) {
      const auto churn_at = [&](Timestamp at) {
        ++evaluations;
        const double silence = DaysBetween(Day(100), at);
        return 1 / (1 + std::exp(-steepness * (std::log1p(silence) - std::log1p(midpoint))));
      };
      AlertState state;
      state.last_churn = churn_at(Day(100));
      evaluations = 0;
      const Timestamp next = NextLook(churn_at, Day(100), state, t, precision, horizon);
      curves += 1;
      EXPECT_LE(evaluations, 12) << "steepness " << steepness << ", midpoint " << midpoint;
      const auto changes = [&](Timestamp at) {
        const double c = churn_at(at);
        return std::fabs(c - state.last_churn) >= precision || c >= t.raise;
      };
      if (next == Day(100) + horizon && !changes(next)) continue;  // nothing within the horizon
      EXPECT_TRUE(changes(next)) << "steepness " << steepness << ", midpoint " << midpoint;
      EXPECT_FALSE(changes(next - std::chrono::hours(1)))
          << "steepness " << steepness << ", midpoint " << midpoint;
    }
  }
  EXPECT_EQ(curves, 16);
}

// Whether a look at `at` would change anything for a closed alert (the
// default thresholds, no cooldown) last looked at with churn `last`.
bool ChangesFrom(double last, double churn, double precision) {
  return std::fabs(churn - last) >= precision || churn >= AlertThresholds{}.raise;
}

// Churn that first rises by the precision, then falls far below where it
// started by the horizon: the first change is the rise, though the horizon
// says churn falls. (The search used to aim at the fall only and crawl.)
TEST(NextEvaluationTest, ChurnThatTurnsIsDueAtItsFirstChange) {
  const AlertThresholds t;
  const double precision = 0.02;
  int evaluations = 0;
  const auto churn_at = [&](Timestamp at) {
    ++evaluations;
    const double days = DaysBetween(Day(0), at);
    return 0.3 + 0.03 * std::sin(days / 20) - (days > 40 ? (days - 40) / 200 : 0);
  };
  AlertState state;
  state.last_churn = churn_at(Day(0));
  evaluations = 0;
  const Timestamp next = NextLook(churn_at, Day(0), state, t, precision, std::chrono::days(90));
  EXPECT_LE(evaluations, 16);
  EXPECT_GT(churn_at(next), state.last_churn);  // the rise, not the fall
  EXPECT_TRUE(ChangesFrom(state.last_churn, churn_at(next), precision));
  EXPECT_FALSE(ChangesFrom(state.last_churn, churn_at(next - std::chrono::hours(1)), precision));
}

// Churn as the model's moves with merge_same_day: rising and levelling off
// from one day to the next, a step at each midnight, barely moving within a
// day. The change is mostly a step, where a secant is no guide and used to
// crawl toward it; the search still finds its hour in a few looks.
TEST(NextEvaluationTest, ChurnThatStepsAtMidnightIsDueAtTheStep) {
  const AlertThresholds t;
  const double precision = 0.02;
  int evaluations = 0, worst = 0, total = 0, curves = 0;
  for (double days_to_settle : {5.0, 10.0, 30.0, 90.0}) {
    for (int hour : {1, 7, 19}) {
      const auto churn_at = [&](Timestamp at) {
        ++evaluations;
        const double days = DaysBetween(Day(0), at), day = std::floor(days);
        return 0.9 - 0.5 * std::exp(-day / days_to_settle) + 1e-5 * (days - day);
      };
      const Timestamp now = Day(0) + std::chrono::hours(hour);
      AlertState state;
      state.last_churn = churn_at(now);
      evaluations = 0;
      const Timestamp next = NextLook(churn_at, now, state, t, precision, std::chrono::days(90));
      worst = std::max(worst, evaluations);
      total += evaluations;
      ++curves;
      EXPECT_TRUE(ChangesFrom(state.last_churn, churn_at(next), precision));
      EXPECT_FALSE(
          ChangesFrom(state.last_churn, churn_at(next - std::chrono::hours(1)), precision));
    }
  }
  EXPECT_LE(worst, 12);  // halving 90 days down to the hour takes 12
  EXPECT_LE(total, 9 * curves);
}

TEST(NextEvaluationTest, NothingBeforeTheHorizonMeansLookAgainThen) {
  const AlertThresholds t;
  const auto flat = [](Timestamp) { return 0.3; };
  EXPECT_EQ(NextLook(flat, Day(10), AlertState{}, t, kOff, std::chrono::days(30)), Day(40));
  EXPECT_EQ(NextLook(Ramp, Day(0), AlertState{}, t, kOff, std::chrono::days(30)), Day(30));
}

TEST(NextEvaluationTest, AnOpenAlertIsDueWhenItWouldClear) {
  const AlertThresholds t;  // clear 0.5
  AlertState open;
  open.open = true;
  const auto falling = [](Timestamp at) { return 1 - Ramp(at); };  // below 0.5 after day 50
  const Timestamp next = NextLook(falling, Day(0), open, t, kOff, std::chrono::days(365));
  EXPECT_GT(next, Day(50));
  EXPECT_LE(next, Day(50) + std::chrono::hours(1));
  EXPECT_EQ(NextLook(Ramp, Day(0), open, t, kOff, std::chrono::days(365)),
            Day(365));  // rising: never clears by silence
}

TEST(NextEvaluationTest, NoSoonerThanTheCooldownAllows) {
  AlertThresholds t;
  t.cooldown = std::chrono::days(14);
  AlertState cooling;
  cooling.raised = 1;
  cooling.raised_at = Day(80);  // cleared since: due when the cooldown ends, at risk already
  EXPECT_EQ(NextLook(Ramp, Day(85), cooling, t, kOff, std::chrono::days(365)), Day(94));
  cooling.raised_at = Day(0);  // cooldown long over: the ramp's own crossing
  const Timestamp next = NextLook(Ramp, Day(20), cooling, t, kOff, std::chrono::days(365));
  EXPECT_GE(next, Day(70));
  EXPECT_LE(next, Day(70) + std::chrono::hours(1));
}

}  // namespace
}  // namespace crm

namespace crm {
namespace {

// With the real scorer: a customer who bought every 14 days and went silent is
// due for a look when their churn crosses the raise threshold by time alone.
TEST(NextEvaluationTest, ASteadyBuyerGoneSilentIsDueWhenChurnCrossesTheThreshold) {
  CustomerState state;
  for (int i = 0; i < 20; ++i) {
    Touchpoint tp = MakeTouchpoint(Type::kPurchase, "p" + std::to_string(i), 14.0 * i);
    ApplyTouchpoint(tp, StateLimits{}, state);
  }
  const Scorer scorer{Model{}};
  const auto churn_at = [&](Timestamp t) { return *scorer.Score(kCustomer, state, t).churn; };
  const AlertThresholds t;
  const Timestamp last_purchase = Day(14.0 * 19);
  ASSERT_LT(churn_at(last_purchase), t.raise);  // not at risk right after buying
  const Timestamp next =
      NextLook(churn_at, last_purchase, AlertState{}, t, kOff, std::chrono::days(365));
  EXPECT_GT(next, last_purchase + std::chrono::days(14));  // silence within the rhythm is fine
  EXPECT_LT(next, last_purchase + std::chrono::days(365));
  EXPECT_GE(churn_at(next), t.raise);
  EXPECT_LT(churn_at(next - std::chrono::hours(2)), t.raise);
}

}  // namespace
}  // namespace crm
