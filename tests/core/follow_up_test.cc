#include "core/follow_up.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/core/test_touchpoints.h"

namespace crm {
namespace {

using testing::Day;
using testing::MakeTouchpoint;
using Type = TouchpointType;

constexpr Micros kWindow = std::chrono::days(30);

AlertFollowUp Raised(std::uint64_t number, double day, bool control = false) {
  return {.number = number,
          .raised_at = Day(day),
          .control = control,
          .action = RecommendedAction::kWinBack,
          .segment = Segment::kA};
}

TEST(FollowUpTest, APurchaseWithinTheWindowRecoversAndCountsItsRevenue) {
  std::vector<AlertFollowUp> follow_ups;
  StartFollowUp(Raised(1, 10), follow_ups);
  Touchpoint before = MakeTouchpoint(Type::kPurchase, "p0", 9);
  EXPECT_FALSE(FollowUp(before, kWindow, follow_ups));  // before the alert
  Touchpoint contact = MakeTouchpoint(Type::kCampaignContact, "k1", 11);
  EXPECT_TRUE(FollowUp(contact, kWindow, follow_ups));
  Touchpoint second = MakeTouchpoint(Type::kPurchase, "p2", 25);
  second.amount = 30;
  Touchpoint first = MakeTouchpoint(Type::kPurchase, "p1", 12);  // arrives late
  first.amount = 12.5;
  EXPECT_TRUE(FollowUp(second, kWindow, follow_ups));
  EXPECT_TRUE(FollowUp(first, kWindow, follow_ups));
  Touchpoint after = MakeTouchpoint(Type::kPurchase, "p3", 40);  // the window is [10, 40)
  EXPECT_FALSE(FollowUp(after, kWindow, follow_ups));
  Touchpoint complaint = MakeTouchpoint(Type::kComplaint, "c", 13);
  EXPECT_FALSE(FollowUp(complaint, kWindow, follow_ups));
  ASSERT_EQ(follow_ups.size(), 1u);
  EXPECT_EQ(follow_ups[0].contacts, 1u);
  EXPECT_EQ(follow_ups[0].recovered_at, Day(12));  // the first by event time
  EXPECT_DOUBLE_EQ(follow_ups[0].revenue, 42.5);
}

TEST(FollowUpTest, OverlappingWindowsEachCountAndTheOldestGoFirst) {
  std::vector<AlertFollowUp> follow_ups;
  StartFollowUp(Raised(1, 0), follow_ups);
  StartFollowUp(Raised(2, 20, /*control=*/true), follow_ups);
  Touchpoint buy = MakeTouchpoint(Type::kPurchase, "p", 25);
  EXPECT_TRUE(FollowUp(buy, kWindow, follow_ups));
  EXPECT_EQ(follow_ups[0].number, 2u);  // latest first
  EXPECT_TRUE(follow_ups[0].recovered_at && follow_ups[1].recovered_at);
  for (std::uint64_t n = 3; n <= kMaxFollowUps + 2; ++n) {
    StartFollowUp(Raised(n, 20.0 + static_cast<double>(n)), follow_ups);
  }
  ASSERT_EQ(follow_ups.size(), kMaxFollowUps);
  EXPECT_EQ(follow_ups.front().number, kMaxFollowUps + 2);
  EXPECT_EQ(follow_ups.back().number, 3u);
}

TEST(FollowUpTest, ATallyTakesWhatItsFilterTakesIntoEachGroup) {
  std::vector<AlertFollowUp> follow_ups = {Raised(3, 40), Raised(2, 20, true), Raised(1, 0)};
  follow_ups[0].contacts = 2;
  follow_ups[0].recovered_at = Day(41);
  follow_ups[0].revenue = 100;
  follow_ups[1].recovered_at = Day(22);
  follow_ups[1].revenue = 10;
  follow_ups[2].segment = Segment::kB;
  const auto tally = [&](const OutcomeFilter& filter) {
    OutcomeReport report;
    for (const AlertFollowUp& follow_up : follow_ups) Tally(follow_up, filter, report);
    return report;
  };
  const OutcomeReport all = tally({});
  EXPECT_EQ(all.all.treated,
            (OutcomeGroup{.alerts = 2, .contacted = 1, .recovered = 1, .revenue = 100}));
  EXPECT_EQ(all.all.control,
            (OutcomeGroup{.alerts = 1, .contacted = 0, .recovered = 1, .revenue = 10}));
  const OutcomeReport since = tally({.since = Day(20), .until = Day(40)});  // [20, 40)
  EXPECT_EQ(since.all.treated.alerts, 0u);
  EXPECT_EQ(since.all.control.alerts, 1u);
  const OutcomeReport segment_b = tally({.segment = Segment::kB});
  EXPECT_EQ(segment_b.all.treated.alerts, 1u);
  EXPECT_EQ(segment_b.all.control.alerts, 0u);
  EXPECT_EQ(tally({.action = RecommendedAction::kOnboard}), OutcomeReport{});
}

TEST(FollowUpTest, WeeksStartOnMondayAndMergeSumsDisjointReports) {
  // Day 0, 2026-01-01, was a Thursday: its week began on Monday 2025-12-29.
  EXPECT_EQ(WeekOf(Day(0)), Day(-3));
  EXPECT_EQ(WeekOf(Day(4) + std::chrono::hours(23)), Day(4));  // a Monday stays
  EXPECT_EQ(WeekOf(Day(10)), Day(4));                          // the Sunday after
  OutcomeReport a;
  OutcomeReport b;
  Tally(Raised(1, 0), {}, a);
  Tally(Raised(2, 5, true), {}, b);
  Tally(Raised(3, 6), {}, b);
  Merge(b, a);
  EXPECT_EQ(a.all.treated.alerts, 2u);
  EXPECT_EQ(a.all.control.alerts, 1u);
  ASSERT_EQ(a.weeks.size(), 2u);
  EXPECT_EQ(a.weeks.at(Day(-3)).treated.alerts, 1u);
  EXPECT_EQ(a.weeks.at(Day(4)).treated.alerts, 1u);
  EXPECT_EQ(a.weeks.at(Day(4)).control.alerts, 1u);
}

TEST(FollowUpTest, ProgressCountsEachTransitionOnceAndNothingForAFollowUpBoundedOut) {
  std::vector<AlertFollowUp> before = {Raised(2, 20), Raised(1, 0, true)};
  std::vector<AlertFollowUp> after = {Raised(3, 40), Raised(2, 20)};  // 1 bounded out
  after[1].contacts = 2;
  after[1].recovered_at = Day(25);
  after[1].revenue = 30;
  OutcomeTotals added;
  AddProgress(before, after, added);
  EXPECT_EQ(added.treated,
            (OutcomeGroup{.alerts = 1, .contacted = 1, .recovered = 1, .revenue = 30}));
  EXPECT_EQ(added.control, OutcomeGroup{});
  // A second purchase adds its amount, not another recovery.
  before = after;
  after[1].revenue = 45;
  after[1].contacts = 3;
  OutcomeTotals more;
  AddProgress(before, after, more);
  EXPECT_EQ(more.treated, (OutcomeGroup{.revenue = 15}));
}

}  // namespace
}  // namespace crm
