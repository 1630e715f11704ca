#include "core/cluster.h"

#include <gtest/gtest.h>

#include <chrono>
#include <limits>

#include "core/population.h"

namespace crm {
namespace {

using std::chrono::seconds;

const Timestamp kT0 = FromMicros(1'700'000'000'000'000);

ClusterMember Member(const std::string& name, std::set<std::int32_t> partitions, Timestamp at) {
  return {.instance = name,
          .address = name + ":50051",
          .partitions = std::move(partitions),
          .partition_count = 6,
          .published_at = at};
}

TEST(ClusterViewTest, EachPartitionsOwnerIsTheLiveMemberClaimingIt) {
  ClusterView view("a", seconds(5));
  view.Update(Member("a", {0, 1}, kT0), kT0);
  view.Update(Member("b", {2, 3}, kT0), kT0);
  ASSERT_TRUE(view.OwnerOf(2, kT0 + seconds(1)));
  EXPECT_EQ(view.OwnerOf(2, kT0 + seconds(1))->instance, "b");
  EXPECT_EQ(view.OwnerOf(2, kT0 + seconds(1))->address, "b:50051");
  EXPECT_EQ(view.OwnerOf(0, kT0)->instance, "a");
  EXPECT_FALSE(view.OwnerOf(4, kT0)) << "nobody claims 4";
  EXPECT_EQ(view.Members(kT0).size(), 2u);
  EXPECT_EQ(view.PartitionCount(kT0), 6);
  EXPECT_EQ(view.PartitionCount(kT0 + seconds(6)), 0) << "nobody live to say";
}

// b was killed: its last claim stands until its successor claims the
// partition, whose claim is the later; and it is forgotten after the ttl.
TEST(ClusterViewTest, TheLatestClaimWinsAndASilentMemberExpires) {
  ClusterView view("a", seconds(5));
  view.Update(Member("b", {2, 3}, kT0), kT0);
  view.Update(Member("c", {3}, kT0 + seconds(2)), kT0 + seconds(2));
  EXPECT_EQ(view.OwnerOf(3, kT0 + seconds(3))->instance, "c");
  EXPECT_EQ(view.OwnerOf(2, kT0 + seconds(3))->instance, "b");
  EXPECT_FALSE(view.OwnerOf(2, kT0 + seconds(6))) << "b silent for longer than the ttl";
  EXPECT_EQ(view.Members(kT0 + seconds(6)).size(), 1u);
  // A publication older than one already known (read out of order) is ignored.
  view.Update(Member("c", {}, kT0 + seconds(1)), kT0 + seconds(3));
  EXPECT_EQ(view.OwnerOf(3, kT0 + seconds(3))->instance, "c");
}

TEST(ClusterViewTest, AMemberThatLeftIsForgottenAtOnce) {
  ClusterView view("", seconds(5));
  view.Update(Member("b", {1}, kT0), kT0);
  view.Remove("b");
  EXPECT_FALSE(view.OwnerOf(1, kT0));
  view.SetSelf("a");
  EXPECT_EQ(view.self(), "a");
}

// A record claiming every partition "published" an hour ahead would win
// every conflict for an hour: it counts as published when it was read.
TEST(ClusterViewTest, APublicationFromTheFutureCountsAsReadNow) {
  ClusterView view("a", seconds(5));
  view.Update(Member("forged", {0, 1, 2, 3, 4, 5}, kT0 + std::chrono::hours(1)), kT0);
  EXPECT_EQ(view.OwnerOf(2, kT0)->instance, "forged");
  view.Update(Member("b", {2}, kT0 + seconds(1)), kT0 + seconds(1));
  EXPECT_EQ(view.OwnerOf(2, kT0 + seconds(1))->instance, "b") << "the later claim wins";
  EXPECT_FALSE(view.OwnerOf(3, kT0 + seconds(6))) << "and the forged one expires with its ttl";
}

TEST(ClusterViewTest, SilentMembersArePrunedAndStayGone) {
  ClusterView view("a", seconds(5));
  view.Update(Member("b", {1}, kT0), kT0);
  view.Update(Member("c", {2}, kT0 + seconds(4)), kT0 + seconds(4));
  view.Prune(kT0 + seconds(7));
  ASSERT_EQ(view.Members(kT0 + seconds(7)).size(), 1u);
  EXPECT_EQ(view.Members(kT0 + seconds(7))[0].instance, "c");
  // Pruned for good: asking as of an earlier moment does not bring b back.
  EXPECT_EQ(view.Members(kT0 + seconds(4)).size(), 1u);
}

TEST(ClusterViewTest, AMemberRecordIsTrustedOnlyWhenItIsConsistentAndBounded) {
  const ClusterMember good = Member("b", {0, 5}, kT0);
  EXPECT_EQ(ClusterMemberProblem("b", good), "");
  EXPECT_NE(ClusterMemberProblem("a", good), "") << "its payload names another instance";
  ClusterMember bad = good;
  bad.partitions = {6};
  EXPECT_NE(ClusterMemberProblem("b", bad), "") << "partition 6 of 6";
  bad.partitions = {-1};
  EXPECT_NE(ClusterMemberProblem("b", bad), "");
  bad = good;
  bad.partition_count = 0;
  EXPECT_NE(ClusterMemberProblem("b", bad), "");
  bad.partition_count = kMaxPartitionCount + 1;
  EXPECT_NE(ClusterMemberProblem("b", bad), "");
  for (const std::string address : {"", "host", "host:", ":50051"}) {
    bad = good;
    bad.address = address;
    EXPECT_NE(ClusterMemberProblem("b", bad), "") << address;
  }
  bad = good;
  bad.address = std::string(kMaxAddressBytes, 'h') + ":1";
  EXPECT_NE(ClusterMemberProblem("b", bad), "");
  bad = Member(std::string(kMaxInstanceBytes + 1, 'n'), {}, kT0);
  EXPECT_NE(ClusterMemberProblem(bad.instance, bad), "");
  bad = Member("", {}, kT0);
  EXPECT_NE(ClusterMemberProblem("", bad), "");
}

TEST(PublishedCellsTest, CellsAreTrustedOnlyWithinTheirPartitionAndBounds) {
  const std::vector<PopulationCell> good = {
      {3, PopulationAxis::kFrequency, 2, 10},
      {3, PopulationAxis::kRevenue, PopulationBucket(PopulationAxis::kRevenue, 1e12), 1},
      {3, PopulationAxis::kMonetary, PopulationBucket(PopulationAxis::kMonetary, -50), 4},
      {3, PopulationAxis::kLastPurchaseDay, 20'000, kMaxCellCount}};
  EXPECT_EQ(PublishedCellsProblem(3, good), "");
  EXPECT_NE(PublishedCellsProblem(4, good), "") << "cells of another partition";
  const std::vector<std::vector<PopulationCell>> bad = {
      {{3, PopulationAxis::kFrequency, 2, -1}},
      {{3, PopulationAxis::kFrequency, 2, kMaxCellCount + 1}},
      {{3, PopulationAxis::kFrequency, -2, 1}},
      {{3, PopulationAxis::kRevenue, std::numeric_limits<std::int64_t>::max(), 1}},
      {{3, PopulationAxis::kRevenue, std::numeric_limits<std::int64_t>::min(), 1}},
      {{3, PopulationAxis{0xff}, 1, 1}}};
  for (const auto& cells : bad) {
    EXPECT_NE(PublishedCellsProblem(3, cells), "")
        << cells[0].bucket << " " << cells[0].count << " " << static_cast<int>(cells[0].axis);
  }
  EXPECT_NE(
      PublishedCellsProblem(3, std::vector<PopulationCell>(kMaxPublishedCells + 1,
                                                           {3, PopulationAxis::kFrequency, 1, 1})),
      "");
}

}  // namespace
}  // namespace crm
