#include "core/population.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "core/customer_state.h"
#include "core/time.h"
#include "core/touchpoint.h"
#include "tests/core/test_touchpoints.h"

namespace crm {
namespace {

using testing::Day;
using testing::MakeTouchpoint;
using Type = TouchpointType;

constexpr std::array<PopulationAxis, kPopulationAxisCount> kAxes = {
    PopulationAxis::kLastPurchaseDay, PopulationAxis::kFrequency, PopulationAxis::kMonetary,
    PopulationAxis::kProductTypes, PopulationAxis::kRevenue};

PopulationEntry Entry(double last_day, double frequency, double monetary, double types,
                      double revenue) {
  PopulationEntry e;
  e.values = {last_day, frequency, monetary, types, revenue};
  return e;
}

// A customer whose only distinguishing value is `frequency`.
PopulationEntry WithFrequency(double frequency) { return Entry(100, frequency, 10, 1, 50); }

// A customer whose only distinguishing value is `revenue`.
PopulationEntry WithRevenue(double revenue) { return Entry(100, 2, 10, 1, revenue); }

void Apply(CustomerState& state, Touchpoint tp) {
  ASSERT_EQ(ApplyTouchpoint(tp, StateLimits{}, state), ApplyOutcome::kApplied);
}

// --- PopulationEntryOf -------------------------------------------------------

TEST(PopulationEntryOfTest, AProspectIsNotPartOfThePopulation) {
  EXPECT_FALSE(PopulationEntryOf(CustomerState{}).has_value());
  CustomerState prospect;
  Apply(prospect, MakeTouchpoint(Type::kContact, "1", 1));
  Apply(prospect, MakeTouchpoint(Type::kReturn, "2", 2));  // a return is not a purchase
  EXPECT_FALSE(PopulationEntryOf(prospect).has_value());
}

TEST(PopulationEntryOfTest, ABuyersValuesOnEveryAxis) {
  CustomerState state;
  Touchpoint tp = MakeTouchpoint(Type::kPurchase, "1", 1.2);
  tp.amount = 30;
  tp.product = "A";
  Apply(state, tp);
  tp = MakeTouchpoint(Type::kPurchase, "2", 1.7);  // the same day
  tp.amount = 20;
  tp.product = "B";
  Apply(state, tp);
  tp = MakeTouchpoint(Type::kPurchase, "3", 11);
  tp.amount = 50;
  tp.product = "A";
  Apply(state, tp);
  tp = MakeTouchpoint(Type::kReturn, "4", 12);
  tp.amount = 10;
  tp.product = "C";  // returned, never bought: not a product type
  Apply(state, tp);
  const std::optional<PopulationEntry> entry = PopulationEntryOf(state);
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->values[static_cast<int>(PopulationAxis::kLastPurchaseDay)], DayNumber(Day(11)));
  EXPECT_EQ(entry->values[static_cast<int>(PopulationAxis::kFrequency)], 2);
  EXPECT_DOUBLE_EQ(entry->values[static_cast<int>(PopulationAxis::kMonetary)], 45);
  EXPECT_EQ(entry->values[static_cast<int>(PopulationAxis::kProductTypes)], 2);
  EXPECT_DOUBLE_EQ(entry->values[static_cast<int>(PopulationAxis::kRevenue)], 90);
}

// --- Buckets -------------------------------------------------------------------

TEST(PopulationBucketTest, IntegerAxesAreExact) {
  for (PopulationAxis axis : {PopulationAxis::kLastPurchaseDay, PopulationAxis::kFrequency,
                              PopulationAxis::kProductTypes}) {
    for (double v : {0.0, 1.0, 2.0, 17.0, 20454.0, -3.0}) {
      EXPECT_EQ(PopulationBucketValue(axis, PopulationBucket(axis, v)), v);
    }
    EXPECT_LT(PopulationBucket(axis, 1), PopulationBucket(axis, 2));
  }
}

TEST(PopulationBucketTest, MoneyBucketsAreMonotoneAndWithinOnePercent) {
  for (PopulationAxis axis : {PopulationAxis::kMonetary, PopulationAxis::kRevenue}) {
    EXPECT_EQ(PopulationBucket(axis, 0), 0);
    EXPECT_EQ(PopulationBucketValue(axis, PopulationBucket(axis, 0)), 0);
    std::int64_t previous_positive = PopulationBucket(axis, 0);
    std::int64_t previous_negative = PopulationBucket(axis, 0);
    int checked = 0;
    for (double v = 0.01; v <= 1e9; v *= 1.001) {
      const std::int64_t positive = PopulationBucket(axis, v);
      const std::int64_t negative = PopulationBucket(axis, -v);
      ASSERT_GE(positive, previous_positive) << v;
      ASSERT_LE(negative, previous_negative) << -v;
      ASSERT_GT(positive, 0) << v;
      ASSERT_LT(negative, 0) << -v;
      ASSERT_LE(std::fabs(PopulationBucketValue(axis, positive) - v), 0.01 * v) << v;
      ASSERT_LE(std::fabs(PopulationBucketValue(axis, negative) + v), 0.01 * v) << -v;
      previous_positive = positive;
      previous_negative = negative;
      ++checked;
    }
    EXPECT_GT(checked, 20000);
    // Distinct values more than 2 % apart never share a bucket.
    EXPECT_LT(PopulationBucket(axis, 100), PopulationBucket(axis, 102.1));
    EXPECT_LT(PopulationBucket(axis, -102.1), PopulationBucket(axis, -100));
  }
}

// --- Population and its view -----------------------------------------------------

TEST(LivePopulationTest, AnEmptyPopulationScoresNothing) {
  const Population population;
  EXPECT_EQ(population.customers(), 0);
  const auto view = population.View();
  EXPECT_EQ(view->customers(), 0);
  for (PopulationAxis axis : kAxes) {
    EXPECT_EQ(view->Score(axis, 5), 0);
    EXPECT_EQ(view->Rank(axis, 5), 0);
  }
  EXPECT_EQ(view->AbcSegment(100), Segment::kNone);
  EXPECT_EQ(PopulationView().customers(), 0);
  EXPECT_EQ(PopulationView().AbcSegment(100), Segment::kNone);
}

TEST(LivePopulationTest, RanksAreMidRanks) {
  Population population;
  for (int i = 0; i < 4; ++i) population.Replace(0, std::nullopt, WithFrequency(2), nullptr);
  for (int i = 0; i < 6; ++i) population.Replace(0, std::nullopt, WithFrequency(5), nullptr);
  const auto view = population.View();
  EXPECT_EQ(view->customers(), 10);
  EXPECT_EQ(population.customers(), 10);
  const PopulationAxis f = PopulationAxis::kFrequency;
  EXPECT_DOUBLE_EQ(view->Rank(f, 0), 0);    // below everyone
  EXPECT_DOUBLE_EQ(view->Rank(f, 2), 0.2);  // (0 + 4 / 2) / 10
  EXPECT_DOUBLE_EQ(view->Rank(f, 3), 0.4);  // 4 below, none tied
  EXPECT_DOUBLE_EQ(view->Rank(f, 5), 0.7);  // (4 + 6 / 2) / 10
  EXPECT_DOUBLE_EQ(view->Rank(f, 6), 1);    // above everyone
  // Every customer has the same last day: all tied in the middle.
  EXPECT_DOUBLE_EQ(view->Rank(PopulationAxis::kLastPurchaseDay, 100), 0.5);
  EXPECT_EQ(view->Score(PopulationAxis::kLastPurchaseDay, 100), 3);
}

TEST(LivePopulationTest, ScoresAreQuintiles) {
  Population population;
  for (int f = 1; f <= 100; ++f) population.Replace(0, std::nullopt, WithFrequency(f), nullptr);
  const auto view = population.View();
  ASSERT_EQ(view->customers(), 100);
  for (int f = 1; f <= 100; ++f) {
    SCOPED_TRACE(f);
    EXPECT_DOUBLE_EQ(view->Rank(PopulationAxis::kFrequency, f), (f - 0.5) / 100);
    EXPECT_EQ(view->Score(PopulationAxis::kFrequency, f), (f - 1) / 20 + 1);
  }
  EXPECT_EQ(view->Score(PopulationAxis::kFrequency, 20), 1);
  EXPECT_EQ(view->Score(PopulationAxis::kFrequency, 21), 2);
  EXPECT_EQ(view->Score(PopulationAxis::kFrequency, 80), 4);
  EXPECT_EQ(view->Score(PopulationAxis::kFrequency, 81), 5);
  EXPECT_EQ(view->Score(PopulationAxis::kFrequency, 0), 1);
  EXPECT_EQ(view->Score(PopulationAxis::kFrequency, 1000), 5);
}

TEST(LivePopulationTest, ReplaceMovesACustomer) {
  Population population;
  for (int f = 1; f <= 10; ++f) population.Replace(0, std::nullopt, WithFrequency(f), nullptr);
  const auto before = population.View();
  EXPECT_DOUBLE_EQ(before->Rank(PopulationAxis::kFrequency, 3), 0.25);

  std::vector<PopulationCell> changed;
  population.Replace(0, WithFrequency(3), WithFrequency(30), &changed);
  // Only the axis whose bucket changed: frequency 3 empties, 30 gets one.
  ASSERT_EQ(changed.size(), 2u);
  EXPECT_EQ(changed[0], (PopulationCell{0, PopulationAxis::kFrequency, 3, 0}));
  EXPECT_EQ(changed[1], (PopulationCell{0, PopulationAxis::kFrequency, 30, 1}));

  const auto after = population.View();
  EXPECT_EQ(after->customers(), 10);
  EXPECT_EQ(population.customers(), 10);
  EXPECT_DOUBLE_EQ(after->Rank(PopulationAxis::kFrequency, 30), 0.95);
  EXPECT_DOUBLE_EQ(after->Rank(PopulationAxis::kFrequency, 3), 0.2);  // now absent
  EXPECT_DOUBLE_EQ(after->Rank(PopulationAxis::kFrequency, 10), 0.85);
  // A published view does not change.
  EXPECT_DOUBLE_EQ(before->Rank(PopulationAxis::kFrequency, 3), 0.25);
}

TEST(LivePopulationTest, RemovingTheLastCustomerErasesTheCells) {
  Population population;
  std::vector<PopulationCell> changed;
  population.Replace(4, std::nullopt, Entry(20454, 3, 12.5, 2, 37.5), &changed);
  ASSERT_EQ(changed.size(), static_cast<std::size_t>(kPopulationAxisCount));
  for (const PopulationCell& cell : changed) {
    EXPECT_EQ(cell.partition, 4);
    EXPECT_EQ(cell.count, 1);
  }
  changed.clear();
  population.Replace(4, Entry(20454, 3, 12.5, 2, 37.5), std::nullopt, &changed);
  ASSERT_EQ(changed.size(), static_cast<std::size_t>(kPopulationAxisCount));
  for (int i = 0; i < kPopulationAxisCount; ++i) {
    const auto axis = static_cast<PopulationAxis>(i);
    EXPECT_EQ(changed[i].axis, axis);
    EXPECT_EQ(changed[i].count, 0);
  }
  EXPECT_EQ(changed[2].bucket, PopulationBucket(PopulationAxis::kMonetary, 12.5));
  EXPECT_EQ(population.customers(), 0);
  EXPECT_EQ(population.View()->customers(), 0);
  EXPECT_EQ(population.View()->AbcSegment(37.5), Segment::kNone);
}

TEST(LivePopulationTest, AValueInTheSameBucketChangesNoCell) {
  Population population;
  std::vector<PopulationCell> changed;
  population.Replace(0, std::nullopt, Entry(20454, 3, 100, 2, 300), &changed);
  changed.clear();
  // Monetary 100 → 100.1 stays in its 2 % bucket; revenue 300 → 400 moves.
  population.Replace(0, Entry(20454, 3, 100, 2, 300), Entry(20454, 3, 100.1, 2, 400), &changed);
  ASSERT_EQ(changed.size(), 2u);
  EXPECT_EQ(changed[0].axis, PopulationAxis::kRevenue);
  EXPECT_EQ(changed[0].count, 0);
  EXPECT_EQ(changed[1].axis, PopulationAxis::kRevenue);
  EXPECT_EQ(changed[1].count, 1);
}

// The view's every rank, on a grid of values per axis.
std::vector<double> Ranks(const PopulationView& view) {
  std::vector<double> ranks;
  for (PopulationAxis axis : kAxes) {
    for (double v = -50; v <= 21000; v += v < 200 ? 0.5 : 97) ranks.push_back(view.Rank(axis, v));
  }
  return ranks;
}

TEST(LivePopulationTest, RestoringTheChangedCellsRebuildsTheSameView) {
  Population live;
  std::vector<PopulationCell> changed;
  std::vector<std::optional<PopulationEntry>> customers(30);
  // Customers join, move and leave, in two partitions.
  for (int round = 0; round < 4; ++round) {
    for (int c = 0; c < 30; ++c) {
      std::optional<PopulationEntry> next;
      if ((c + round) % 7 != 0) {
        next = Entry(20400 + (c * 3 + round) % 40, 1 + (c + round) % 9, 5.0 + c * round, 1 + c % 4,
                     (c - 3) * 10.0 * (round + 1));
      }
      live.Replace(c % 2, customers[c], next, &changed);
      customers[c] = next;
    }
  }
  // What a store holds: the last cell written per key, zeros deleted.
  std::map<std::tuple<std::int32_t, PopulationAxis, std::int64_t>, PopulationCell> stored;
  for (const PopulationCell& cell : changed) {
    const auto key = std::make_tuple(cell.partition, cell.axis, cell.bucket);
    if (cell.count == 0) {
      stored.erase(key);
    } else {
      stored[key] = cell;
    }
  }
  Population restored;
  for (const auto& [key, cell] : stored) restored.Restore(cell);
  EXPECT_EQ(restored.customers(), live.customers());
  EXPECT_EQ(restored.View()->customers(), live.View()->customers());
  EXPECT_EQ(Ranks(*restored.View()), Ranks(*live.View()));
  for (double revenue : {-10.0, 0.0, 10.0, 50.0, 200.0, 500.0, 1000.0}) {
    EXPECT_EQ(restored.View()->AbcSegment(revenue), live.View()->AbcSegment(revenue)) << revenue;
  }

  // Restoring every changed cell in order (zeros included) gives the same.
  Population replayed;
  for (const PopulationCell& cell : changed) replayed.Restore(cell);
  EXPECT_EQ(Ranks(*replayed.View()), Ranks(*live.View()));
  EXPECT_EQ(replayed.customers(), live.customers());
}

TEST(LivePopulationTest, PartitionsMergeInTheViewAndCanBeDropped) {
  Population population;
  population.Replace(0, std::nullopt, WithFrequency(1), nullptr);
  population.Replace(0, std::nullopt, WithFrequency(2), nullptr);
  population.Replace(1, std::nullopt, WithFrequency(3), nullptr);
  population.Replace(1, std::nullopt, WithFrequency(4), nullptr);
  population.Replace(2, std::nullopt, WithFrequency(2), nullptr);
  EXPECT_EQ(population.customers(), 5);
  const auto merged = population.View();
  EXPECT_EQ(merged->customers(), 5);
  EXPECT_DOUBLE_EQ(merged->Rank(PopulationAxis::kFrequency, 2), 0.4);  // (1 + 2 / 2) / 5
  EXPECT_DOUBLE_EQ(merged->Rank(PopulationAxis::kFrequency, 3), 0.7);

  population.DropPartition(1);
  EXPECT_EQ(population.customers(), 3);
  const auto dropped = population.View();
  EXPECT_EQ(dropped->customers(), 3);
  EXPECT_DOUBLE_EQ(dropped->Rank(PopulationAxis::kFrequency, 3), 1);
  EXPECT_DOUBLE_EQ(dropped->Rank(PopulationAxis::kFrequency, 2), 2.0 / 3);
  population.DropPartition(7);  // unknown: nothing happens
  EXPECT_EQ(population.customers(), 3);
}

// --- ABC -----------------------------------------------------------------------

TEST(LivePopulationTest, AbcSegmentsOnAParetoLikePopulation) {
  // Total 1000. Revenue strictly above each customer: 400 → 0 %, 300 → 40 %,
  // 150 → 70 % (A, under 80 %), 140 → 85 % (B, under 95 %), then 99 %+ (C).
  const std::vector<double> revenues = {400, 300, 150, 140, 3, 2, 2, 1, 1, 1};
  const std::vector<Segment> want = {Segment::kA, Segment::kA, Segment::kA, Segment::kB,
                                     Segment::kC, Segment::kC, Segment::kC, Segment::kC,
                                     Segment::kC, Segment::kC};
  Population population;
  for (double r : revenues) population.Replace(0, std::nullopt, WithRevenue(r), nullptr);
  population.Replace(1, std::nullopt, WithRevenue(-40), nullptr);  // a net refund
  population.Replace(1, std::nullopt, WithRevenue(0), nullptr);
  const auto view = population.View();
  ASSERT_EQ(view->customers(), 12);
  for (std::size_t i = 0; i < revenues.size(); ++i) {
    EXPECT_EQ(view->AbcSegment(revenues[i]), want[i]) << revenues[i];
  }
  EXPECT_EQ(view->AbcSegment(0), Segment::kC);
  EXPECT_EQ(view->AbcSegment(-40), Segment::kC);
  EXPECT_EQ(view->AbcSegment(1e-9), Segment::kC);
  EXPECT_EQ(view->AbcSegment(5000), Segment::kA);  // above everyone
}

// A revenue between two customers' buckets: the customers above it are those
// of every higher bucket, the next one up included.
TEST(LivePopulationTest, AbcSegmentOfARevenueNoCustomerHas) {
  const std::vector<double> revenues = {400, 300, 150, 140, 3, 2, 2, 1, 1, 1};
  Population population;
  for (double r : revenues) population.Replace(0, std::nullopt, WithRevenue(r), nullptr);
  const auto view = population.View();
  EXPECT_EQ(view->AbcSegment(200), Segment::kA);  // 700 above: 70 %
  EXPECT_EQ(view->AbcSegment(145), Segment::kB);  // 850 above: 85 %
  EXPECT_EQ(view->AbcSegment(50), Segment::kC);   // 990 above: 99 %
}

TEST(LivePopulationTest, WithoutPositiveRevenueEveryoneIsC) {
  Population population;
  population.Replace(0, std::nullopt, WithRevenue(0), nullptr);
  population.Replace(0, std::nullopt, WithRevenue(-5), nullptr);
  const auto view = population.View();
  EXPECT_EQ(view->AbcSegment(0), Segment::kC);
  EXPECT_EQ(view->AbcSegment(10), Segment::kC);
}

// Scale-out: an instance owning partition 0 of two ranks against partition
// 1's histograms as its owner published them, not the stale ones it stored
// when it owned 1; its own partition's stay its own even when a publication
// of it arrives. The view is then the one a single owner of both would have.
TEST(LivePopulationTest, AnotherOwnersPublishedPartitionReplacesTheStaleOneStoredHere) {
  Population whole;  // one instance owning both, up to date
  for (int f = 1; f <= 10; ++f) whole.Replace(0, std::nullopt, WithFrequency(f), nullptr);
  for (int f = 1; f <= 30; ++f) whole.Replace(1, std::nullopt, WithFrequency(100 + f), nullptr);

  Population here;  // owns 0; stored 5 customers of 1 back when it owned it
  for (int f = 1; f <= 10; ++f) here.Replace(0, std::nullopt, WithFrequency(f), nullptr);
  for (int f = 1; f <= 5; ++f) here.Replace(1, std::nullopt, WithFrequency(100 + f), nullptr);
  EXPECT_EQ(here.View()->customers(), 15);  // before any assignment: all its own
  here.SetOwned({0});
  EXPECT_EQ(here.View()->customers(), 15);  // nothing published yet: the stale ones stand in

  here.SetRemote(1, whole.Cells(1));
  // A publication of its own partition (its old owner's, late) changes nothing.
  here.SetRemote(
      0, {{0, PopulationAxis::kFrequency, PopulationBucket(PopulationAxis::kFrequency, 1), 99}});
  const auto view = here.View();
  const auto want = whole.View();
  EXPECT_EQ(view->customers(), 40);
  EXPECT_EQ(view->partitions(), 2);
  EXPECT_EQ(here.customers(), 40);
  for (double f : {0.0, 3.0, 10.0, 50.0, 115.0, 200.0}) {
    EXPECT_DOUBLE_EQ(view->Rank(PopulationAxis::kFrequency, f),
                     want->Rank(PopulationAxis::kFrequency, f))
        << f;
  }
  for (double revenue : {10.0, 50.0, 1000.0}) {
    EXPECT_EQ(view->AbcSegment(revenue), want->AbcSegment(revenue)) << revenue;
  }
  // Given partition 1 back: its own histograms again.
  here.SetOwned({0, 1});
  EXPECT_EQ(here.View()->customers(), 15);
}

// What says whether a partition's histograms are to be published again.
TEST(LivePopulationTest, APartitionsVersionMovesWithItsOwnHistogramsOnly) {
  Population population;
  EXPECT_EQ(population.Version(0), 0u);
  population.Replace(0, std::nullopt, WithFrequency(2), nullptr);
  const std::uint64_t after_one = population.Version(0);
  EXPECT_GT(after_one, 0u);
  population.Replace(1, std::nullopt, WithFrequency(2), nullptr);
  population.SetRemote(0, {});
  population.SetOwned({1});
  (void)population.View();
  EXPECT_EQ(population.Version(0), after_one) << "nothing of partition 0's own changed";
  population.Replace(0, WithFrequency(2), WithFrequency(2), nullptr);
  EXPECT_EQ(population.Version(0), after_one) << "the same buckets: no cell changed";
  population.Restore({0, PopulationAxis::kFrequency, 7, 1});
  EXPECT_GT(population.Version(0), after_one);
  const std::uint64_t restored = population.Version(0);
  population.DropPartition(0);
  EXPECT_GT(population.Version(0), restored);
}

// Publications handed between threads: the latest per partition, once.
TEST(LivePopulationTest, TheInboxGivesTheLatestPublicationOfEachPartitionOnce) {
  RemotePopulationInbox inbox;
  inbox.Put(1, {{1, PopulationAxis::kFrequency, 2, 3}});
  inbox.Put(1, {{1, PopulationAxis::kFrequency, 2, 7}});
  inbox.Put(2, {});
  auto taken = inbox.Take();
  ASSERT_EQ(taken.size(), 2u);
  ASSERT_EQ(taken.at(1).size(), 1u);
  EXPECT_EQ(taken.at(1).front().count, 7);
  EXPECT_TRUE(inbox.Take().empty());
}

}  // namespace
}  // namespace crm
