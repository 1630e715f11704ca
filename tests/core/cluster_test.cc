#include "core/cluster.h"

#include <gtest/gtest.h>

#include <chrono>

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
  view.Update(Member("a", {0, 1}, kT0));
  view.Update(Member("b", {2, 3}, kT0));
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
  view.Update(Member("b", {2, 3}, kT0));
  view.Update(Member("c", {3}, kT0 + seconds(2)));
  EXPECT_EQ(view.OwnerOf(3, kT0 + seconds(3))->instance, "c");
  EXPECT_EQ(view.OwnerOf(2, kT0 + seconds(3))->instance, "b");
  EXPECT_FALSE(view.OwnerOf(2, kT0 + seconds(6))) << "b silent for longer than the ttl";
  EXPECT_EQ(view.Members(kT0 + seconds(6)).size(), 1u);
  // A publication older than one already known (read out of order) is ignored.
  view.Update(Member("c", {}, kT0 + seconds(1)));
  EXPECT_EQ(view.OwnerOf(3, kT0 + seconds(3))->instance, "c");
}

TEST(ClusterViewTest, AMemberThatLeftIsForgottenAtOnce) {
  ClusterView view("", seconds(5));
  view.Update(Member("b", {1}, kT0));
  view.Remove("b");
  EXPECT_FALSE(view.OwnerOf(1, kT0));
  view.SetSelf("a");
  EXPECT_EQ(view.self(), "a");
}

}  // namespace
}  // namespace crm
