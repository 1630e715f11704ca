#include "core/follow_up.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/alerts.h"
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

// An offer campaign: its first contact (or hold-out) with the offer starts
// its follow-up; purchases of the offer within the window recover it, other
// purchases do not; its contacts count, not other campaigns'.
TEST(FollowUpTest, AnOfferCampaignsFollowUpCountsItsContactsAndPurchasesOfTheOffer) {
  std::vector<AlertFollowUp> follow_ups = {Raised(1, 0)};  // an alert's, window [0, 30)
  const auto contact = [](const std::string& id, double day, const std::string& campaign,
                          bool held_out) {
    Touchpoint tp = MakeTouchpoint(Type::kCampaignContact, id, day);
    tp.campaign_id = campaign;
    tp.product = "TABLET";
    tp.held_out = held_out;
    return tp;
  };
  ASSERT_TRUE(FollowUp(contact("k1", 10, "SPRING", false), kWindow, follow_ups));
  ASSERT_EQ(follow_ups.size(), 2u);
  const AlertFollowUp& offer = follow_ups.front();
  EXPECT_EQ(offer.number, OfferNumber("SPRING"));
  EXPECT_GE(offer.number, std::uint64_t{1} << 63);  // never an alert's
  EXPECT_EQ(offer.campaign_id, "SPRING");
  EXPECT_EQ(offer.product, "TABLET");
  EXPECT_EQ(offer.raised_at, Day(10));
  EXPECT_FALSE(offer.control);
  EXPECT_EQ(offer.contacts, 1u);
  EXPECT_EQ(follow_ups.back().contacts, 1u);  // a contact within the alert's window too
  ASSERT_TRUE(FollowUp(contact("k2", 12, "SPRING", false), kWindow, follow_ups));
  EXPECT_EQ(follow_ups.front().contacts, 2u);  // the same campaign: no second follow-up
  ASSERT_EQ(follow_ups.size(), 2u);
  Touchpoint newsletter = contact("k3", 13, "NEWSLETTER", false);
  newsletter.product.clear();  // no offer: starts no follow-up, and is not the campaign's
  FollowUp(newsletter, kWindow, follow_ups);
  ASSERT_EQ(follow_ups.size(), 2u);
  EXPECT_EQ(follow_ups.front().contacts, 2u);
  EXPECT_EQ(follow_ups.back().contacts, 3u);  // the alert's counts every contact made
  Touchpoint other = MakeTouchpoint(Type::kPurchase, "p1", 14);
  other.product = "PHONE";
  other.amount = 50;
  FollowUp(other, kWindow, follow_ups);
  EXPECT_FALSE(follow_ups.front().recovered_at);  // not the offer
  EXPECT_TRUE(follow_ups.back().recovered_at);    // the alert's: any purchase
  Touchpoint bought = MakeTouchpoint(Type::kPurchase, "p2", 20);
  bought.product = "TABLET";
  bought.amount = 80;
  ASSERT_TRUE(FollowUp(bought, kWindow, follow_ups));
  EXPECT_EQ(follow_ups.front().recovered_at, Day(20));
  EXPECT_DOUBLE_EQ(follow_ups.front().revenue, 80);

  // A win-back contact naming its alert, with a product: the alert's, not a campaign's.
  std::vector<AlertFollowUp> alert_only = {Raised(1, 0)};
  Touchpoint win_back = contact("w1", 3, AlertId(CustomerId("c"), 1), false);
  win_back.customer_id = CustomerId("c");
  ASSERT_TRUE(FollowUp(win_back, kWindow, alert_only));
  ASSERT_EQ(alert_only.size(), 1u);
  EXPECT_EQ(alert_only.front().contacts, 1u);

  // Held out: in the control group, no contact made.
  std::vector<AlertFollowUp> held;
  ASSERT_TRUE(FollowUp(contact("h1", 10, "SPRING", true), kWindow, held));
  ASSERT_EQ(held.size(), 1u);
  EXPECT_TRUE(held.front().control);
  EXPECT_EQ(held.front().contacts, 0u);

  // The alerts' outcomes leave the campaign out; the campaign's take it alone.
  OutcomeReport alerts;
  OutcomeReport spring;
  for (const AlertFollowUp& f : follow_ups) {
    Tally(f, {}, alerts);
    Tally(f, {.campaign = "SPRING"}, spring);
  }
  EXPECT_EQ(alerts.all.treated.alerts, 1u);
  EXPECT_EQ(spring.all.treated,
            (OutcomeGroup{.alerts = 1, .contacted = 1, .recovered = 1, .revenue = 80}));
  // Nor do the alert outcome counters count it.
  OutcomeTotals added;
  AddProgress({}, follow_ups, added);
  EXPECT_EQ(added.treated.alerts, 1u);
}

}  // namespace
}  // namespace crm
