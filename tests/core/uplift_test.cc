#include "core/uplift.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace crm {
namespace {

TEST(UpliftTest, TheControlGroupIsAFunctionOfTheAlertIdAndHoldsItsShare) {
  int control = 0;
  constexpr int kAlerts = 100'000;
  for (int i = 0; i < kAlerts; ++i) {
    const std::string id = "customer-" + std::to_string(i % 977) + "-" + std::to_string(i / 977);
    const bool in = InControlGroup(id, 0.2);
    EXPECT_EQ(in, InControlGroup(id, 0.2));  // the same on every call
    control += in;
    EXPECT_FALSE(InControlGroup(id, 0.0));
  }
  // 20 % of 100,000: a binomial's standard deviation is 126.
  EXPECT_NEAR(control, 20'000, 700);
  // A larger share keeps every alert a smaller one held out.
  for (int i = 0; i < 1000; ++i) {
    const std::string id = "c-" + std::to_string(i);
    EXPECT_TRUE(!InControlGroup(id, 0.1) || InControlGroup(id, 0.3)) << id;
  }
}

TEST(UpliftTest, WilsonAndNewcombeMatchPublishedValues) {
  // Newcombe (1998), Table II: 56/70 against 48/80, method 10: 0.0524 to 0.3339.
  const auto estimate = EstimateUplift(70, 56, 80, 48);
  ASSERT_TRUE(estimate);
  EXPECT_NEAR(estimate->uplift, 0.2, 1e-12);
  EXPECT_NEAR(estimate->interval.low, 0.0524, 5e-4);
  EXPECT_NEAR(estimate->interval.high, 0.3339, 5e-4);
  // Wilson at the edge stays within [0, 1]: 0 of 10 gives 0 to 0.2775.
  const Interval none = WilsonInterval(0, 10);
  EXPECT_EQ(none.low, 0);
  EXPECT_NEAR(none.high, 0.2775, 5e-4);
  EXPECT_FALSE(EstimateUplift(0, 0, 10, 3));
  EXPECT_FALSE(EstimateUplift(10, 3, 0, 0));
}

TEST(UpliftTest, TheIntervalCoversTheTrueUpliftAboutNinetyFivePercentOfTheTime) {
  // The simulation: treated customers come back with probability
  // 0.6, control ones with 0.2; 200 alerts, 20 % held out.
  std::mt19937_64 random(20261203);
  constexpr int kRuns = 4000;
  int covered = 0;
  for (int run = 0; run < kRuns; ++run) {
    const std::uint64_t treated = 160, control = 40;
    std::binomial_distribution<std::uint64_t> treated_back(treated, 0.6);
    std::binomial_distribution<std::uint64_t> control_back(control, 0.2);
    const auto estimate =
        EstimateUplift(treated, treated_back(random), control, control_back(random));
    ASSERT_TRUE(estimate);
    covered += estimate->interval.low <= 0.4 && 0.4 <= estimate->interval.high;
  }
  // 95 % nominal; the standard deviation of the share over 4,000 runs is 0.0034.
  EXPECT_NEAR(static_cast<double>(covered) / kRuns, 0.95, 0.015);
}

}  // namespace
}  // namespace crm
