// The peer router without gRPC: where a lookup's answer comes from, decided
// on one read of the store, one snapshot of the ownership and one of the
// cluster.
#include "services/grpc/peer_router.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/cluster.h"
#include "core/customer_state.h"
#include "core/partition_ownership.h"
#include "core/shared_states.h"
#include "services/codec/state_codec.h"
#include "tests/core/test_touchpoints.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/memory_state_store.h"

namespace crm {
namespace {

using testing::Day;

// A store that records the hint of every Find, reads going to a memory store.
class HintRecordingStore final : public StateStore {
 public:
  absl::StatusOr<std::optional<CustomerState>> Get(std::int32_t partition,
                                                   const CustomerId& id) override {
    return inner.Get(partition, id);
  }
  absl::StatusOr<std::optional<CustomerState>> Locate(const CustomerId& id,
                                                      std::optional<std::int32_t> hint) override {
    hints.push_back(hint);
    return inner.Find(id, hint);
  }
  absl::StatusOr<std::vector<Touchpoint>> RecentTouchpoints(std::int32_t partition,
                                                            const CustomerId& id,
                                                            std::uint64_t through,
                                                            std::size_t limit) override {
    return inner.RecentTouchpoints(partition, id, through, limit);
  }
  absl::Status DropPartition(const std::string& topic, std::int32_t partition) override {
    return inner.DropPartition(topic, partition);
  }
  absl::StatusOr<std::optional<PartitionState>> GetPartition(const std::string& topic,
                                                             std::int32_t partition) override {
    return inner.GetPartition(topic, partition);
  }
  absl::StatusOr<std::optional<Timestamp>> LoadLatestEventTime(const std::string& topic) override {
    return inner.LoadLatestEventTime(topic);
  }
  absl::StatusOr<std::vector<PopulationCell>> LoadPopulation(const std::string& topic) override {
    return inner.LoadPopulation(topic);
  }
  absl::Status ForEachNextLook(
      std::int32_t partition,
      const std::function<void(const CustomerId&, Timestamp)>& visit) override {
    return inner.ForEachNextLook(partition, visit);
  }
  absl::StatusOr<std::vector<RiskEntry>> Riskiest(const std::optional<RiskEntry>& after,
                                                  std::size_t limit) override {
    return inner.Riskiest(after, limit);
  }
  absl::StatusOr<std::vector<OfferEntry>> LikeliestBuyers(std::string_view product,
                                                          const std::optional<OfferEntry>& after,
                                                          std::size_t limit) override {
    return inner.LikeliestBuyers(product, after, limit);
  }
  absl::Status ForEachFollowUp(std::optional<Timestamp> since, std::optional<Timestamp> until,
                               const std::function<bool(std::int32_t)>& take,
                               const std::function<void(const AlertFollowUp&)>& visit) override {
    return inner.ForEachFollowUp(since, until, take, visit);
  }
  absl::StatusOr<std::vector<std::pair<std::uint64_t, AlertEvent>>> PendingAlerts(
      std::size_t limit) override {
    return inner.PendingAlerts(limit);
  }
  absl::StatusOr<std::optional<std::uint64_t>> LastPendingAlert() override {
    return inner.LastPendingAlert();
  }
  absl::Status AckAlerts(const std::vector<std::uint64_t>& sequences) override {
    return inner.AckAlerts(sequences);
  }
  absl::Status Commit(const std::string& topic, const StateBatch& batch) override {
    return inner.Commit(topic, batch);
  }

  testing::MemoryStateStore inner;
  std::vector<std::optional<std::int32_t>> hints;
};

// A buyer's state on `partition`.
CustomerState StateOn(std::int32_t partition) {
  CustomerState state;
  state.partition = partition;
  Touchpoint purchase = testing::MakeTouchpoint(TouchpointType::kPurchase, "p", 0);
  ApplyTouchpoint(purchase, StateLimits{}, state);
  return state;
}

void Store(StateStore& store, const std::string& id, std::int32_t partition) {
  const CustomerId customer(id);
  CustomerState state = StateOn(partition);
  StateBatch batch;
  batch.customers.emplace_back(&customer, &state);
  ASSERT_TRUE(store.Commit("crm.touchpoints", batch).ok());
}

ClusterMember Member(std::string instance, std::string address, std::set<std::int32_t> partitions,
                     Timestamp at) {
  return {.instance = std::move(instance),
          .address = std::move(address),
          .partitions = std::move(partitions),
          .partition_count = 2,
          .published_at = at};
}

// Two partitions; this instance "a" and, unless a test says otherwise, a
// peer "b" on loopback. Keys "k0…" go to partition 0, the others to 1.
struct RouterTest : ::testing::Test {
  RouterTest()
      : clock(Day(400)),
        cluster("a", std::chrono::minutes(1)),
        router({.ownership = &ownership,
                .cluster = &cluster,
                .partition_of = [](std::string_view key,
                                   std::int32_t) { return key.starts_with("k0") ? 0 : 1; },
                .policy = {}},
               clock) {}

  Route Locate(const std::string& id, bool forwarded = false) {
    return router.Locate(store, id, forwarded);
  }

  testing::FakeClock clock;
  HintRecordingStore store;
  PartitionOwnership ownership;
  ClusterView cluster;
  PeerRouter router;
};

// A customer whose committed state the consumer thread shares is read from
// there, the store not at all; the others from the store.
TEST(PeerRouterTest, ASharedStateIsReadWithoutTheStore) {
  testing::FakeClock clock(Day(400));
  HintRecordingStore store;
  Store(store, "k0-here", 0);
  SharedStates shared;
  const PeerRouter router({.shared_states = &shared}, clock);
  Route route = router.Locate(store, "k0-here", false);
  ASSERT_EQ(route.kind, Route::Kind::kHere);
  EXPECT_EQ(route.state->events_applied, 1u);
  EXPECT_EQ(store.hints.size(), 1u);
  CustomerState newer = StateOn(0);
  newer.events_applied = 5;
  shared.Put(CustomerId("k0-here"), std::make_shared<const std::string>(EncodeState(newer)));
  route = router.Locate(store, "k0-here", false);
  ASSERT_EQ(route.kind, Route::Kind::kHere);
  EXPECT_EQ(route.state->events_applied, 5u);
  EXPECT_EQ(route.partition, 0);
  EXPECT_EQ(store.hints.size(), 1u);  // no read of the store
  shared.Erase(CustomerId("k0-here"));
  route = router.Locate(store, "k0-here", false);
  EXPECT_EQ(route.state->events_applied, 1u);
  EXPECT_EQ(store.hints.size(), 2u);
}

TEST_F(RouterTest, ACustomerOnAPartitionOwnedAndServedIsAnsweredHere) {
  ownership.SetOwned({0, 1}, 2);
  Store(store, "k0-here", 0);
  const Route route = Locate("k0-here");
  ASSERT_EQ(route.kind, Route::Kind::kHere) << route.status;
  ASSERT_TRUE(route.state.has_value());
  EXPECT_EQ(route.state->partition, 0);
  EXPECT_EQ(route.partition, 0);

  // Unknown on a partition served here: NOT_FOUND, with the partition their
  // key gives (an erasure's hint).
  const Route unknown = Locate("k1-nobody");
  EXPECT_EQ(unknown.kind, Route::Kind::kAnswered);
  EXPECT_TRUE(absl::IsNotFound(unknown.status)) << unknown.status;
  EXPECT_EQ(unknown.partition, 1);
}

TEST_F(RouterTest, APartitionOwnedButRestoringOrFailedIsUnavailable) {
  ownership.SetOwned({0, 1}, 2);
  Store(store, "k0-here", 0);
  ownership.Begin(0);
  Route route = Locate("k0-here");
  EXPECT_TRUE(absl::IsUnavailable(route.status)) << route.status;
  EXPECT_NE(route.status.message().find("being restored"), std::string::npos) << route.status;
  // Nothing found while a partition is restored: they may be on it.
  route = Locate("k0-nobody");
  EXPECT_TRUE(absl::IsUnavailable(route.status)) << route.status;

  ownership.End(0);
  ownership.Fail(0, "a record that cannot be read");
  route = Locate("k0-here");
  EXPECT_TRUE(absl::IsUnavailable(route.status)) << route.status;
  EXPECT_NE(route.status.message().find("a record that cannot be read"), std::string::npos)
      << route.status;

  ownership.Begin(0);  // a new assignment: restored again
  ownership.End(0);
  EXPECT_EQ(Locate("k0-here").kind, Route::Kind::kHere);
}

TEST_F(RouterTest, APartitionALivePeerOwnsIsForwardedThere) {
  ownership.SetOwned({0}, 2);
  cluster.Update(Member("a", "127.0.0.1:1", {0}, clock.Now()), clock.Now());
  cluster.Update(Member("b", "127.0.0.1:2", {1}, clock.Now()), clock.Now());
  // Known here from before a rebalance, and unknown: both are b's to answer.
  Store(store, "k1-moved", 1);
  for (const std::string id : {"k1-moved", "k1-nobody"}) {
    const Route route = Locate(id);
    ASSERT_EQ(route.kind, Route::Kind::kForward) << id << ": " << route.status;
    EXPECT_EQ(route.owner.instance, "b");
    EXPECT_EQ(route.owner.address, "127.0.0.1:2");
    EXPECT_EQ(route.partition, 1);
  }
  // A call b forwarded here is answered here, never sent back.
  const Route forwarded = Locate("k1-moved", /*forwarded=*/true);
  EXPECT_TRUE(absl::IsUnavailable(forwarded.status)) << forwarded.status;
  EXPECT_NE(forwarded.status.message().find("asked by another instance"), std::string::npos)
      << forwarded.status;
}

TEST_F(RouterTest, APartitionWhoseOwnerIsUnknownOrStaleIsUnavailable) {
  ownership.SetOwned({0}, 2);
  cluster.Update(Member("a", "127.0.0.1:1", {0}, clock.Now()), clock.Now());
  Route route = Locate("k1-nobody");
  EXPECT_TRUE(absl::IsUnavailable(route.status)) << route.status;
  EXPECT_NE(route.status.message().find("no instance claims partition 1"), std::string::npos)
      << route.status;

  // b claimed it, then went silent for longer than the ttl.
  cluster.Update(Member("b", "127.0.0.1:2", {1}, clock.Now()), clock.Now());
  EXPECT_EQ(Locate("k1-nobody").kind, Route::Kind::kForward);
  clock.Advance(std::chrono::minutes(2));
  route = Locate("k1-nobody");
  EXPECT_TRUE(absl::IsUnavailable(route.status)) << route.status;
  EXPECT_NE(route.status.message().find("no instance claims partition 1"), std::string::npos)
      << route.status;
}

TEST_F(RouterTest, AnOwnerThatCannotBeVerifiedIsNeverForwardedTo) {
  ownership.SetOwned({0}, 2);
  cluster.Update(Member("b", "10.0.0.2:50051", {1}, clock.Now()), clock.Now());
  const Route route = Locate("k1-nobody");
  EXPECT_TRUE(absl::IsUnavailable(route.status)) << route.status;
  EXPECT_NE(route.status.message().find("--allow-insecure-peers"), std::string::npos)
      << route.status;

  PeerRouter insecure({.ownership = &ownership,
                       .cluster = &cluster,
                       .partition_of = [](std::string_view, std::int32_t) { return 1; },
                       .policy = {.insecure_peers = true}},
                      clock);
  EXPECT_EQ(insecure.Locate(store, "k1-nobody", false).kind, Route::Kind::kForward);
}

TEST_F(RouterTest, BeforeAnyAssignmentLocalStateIsServedUnlessAnotherClaimsIt) {
  Store(store, "k0-here", 0);
  EXPECT_EQ(Locate("k0-here").kind, Route::Kind::kHere);
  cluster.Update(Member("b", "127.0.0.1:2", {0}, clock.Now()), clock.Now());
  const Route route = Locate("k0-here");
  ASSERT_EQ(route.kind, Route::Kind::kForward) << route.status;
  EXPECT_EQ(route.owner.instance, "b");
}

TEST_F(RouterTest, RecordsOnAnotherPartitionThanThePartitionerSaysMakeUnknownUnavailable) {
  ownership.SetOwned({0}, 2);
  ownership.SetPartitionerMismatch();
  const Route route = Locate("k0-nobody");
  EXPECT_TRUE(absl::IsUnavailable(route.status)) << route.status;
}

// The hinted single read: once the partition count is known, the customer's
// key's partition is read first.
TEST_F(RouterTest, TheStoreIsReadOnceWithThePartitionOfTheKeyAsHint) {
  ownership.SetOwned({0, 1}, 2);
  Store(store, "k1-here", 1);
  EXPECT_EQ(Locate("k1-here").kind, Route::Kind::kHere);  // the count is learnt
  EXPECT_EQ(Locate("k1-here").kind, Route::Kind::kHere);
  EXPECT_EQ(Locate("k0-nobody").status.code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(store.hints.size(), 3u);
  EXPECT_EQ(store.hints[0], std::nullopt);
  EXPECT_EQ(store.hints[1], std::optional<std::int32_t>(1));
  EXPECT_EQ(store.hints[2], std::optional<std::int32_t>(0));
}

// The decision reads its snapshots only: one taken before a revocation
// answers as of then, one taken after never answers for the revoked partition.
TEST_F(RouterTest, TheDecisionIsAPureFunctionOfItsSnapshots) {
  ownership.SetOwned({0, 1}, 2);
  cluster.Update(Member("b", "127.0.0.1:2", {}, clock.Now()), clock.Now());
  const PartitionOwnership::Snapshot before = *ownership.TakeSnapshot();
  const ClusterSnapshot cluster_before = ClusterSnapshot::Of(cluster, clock.Now());
  ownership.SetOwned({0}, 2);
  cluster.Update(Member("b", "127.0.0.1:2", {1}, clock.Now()), clock.Now());
  const PartitionOwnership::Snapshot after = *ownership.TakeSnapshot();
  const ClusterSnapshot cluster_after = ClusterSnapshot::Of(cluster, clock.Now());

  const std::string id = "k1-moved";
  const std::optional<CustomerState> stored = StateOn(1);
  const PartitionOf partition_of = [](std::string_view, std::int32_t) { return 1; };
  const Route then =
      DecideRoute({.raw_id = id, .stored = stored}, &before, &cluster_before, partition_of, {});
  EXPECT_EQ(then.kind, Route::Kind::kHere);
  const Route now =
      DecideRoute({.raw_id = id, .stored = stored}, &after, &cluster_after, partition_of, {});
  ASSERT_EQ(now.kind, Route::Kind::kForward) << now.status;
  EXPECT_EQ(now.owner.instance, "b");
  // Revoked and claimed by nobody yet: never answered here.
  const Route between =
      DecideRoute({.raw_id = id, .stored = stored}, &after, &cluster_before, partition_of, {});
  EXPECT_TRUE(absl::IsUnavailable(between.status)) << between.status;

  // Alone (no ownership): whatever is stored is answered here.
  EXPECT_EQ(DecideRoute({.raw_id = id, .stored = stored}, nullptr, nullptr, partition_of, {}).kind,
            Route::Kind::kHere);
}

// A lookup served here takes no snapshot of the cluster: wherever
// NeedsCluster says no, the decision on an empty cluster snapshot is the
// decision on the full one.
TEST(PeerRouterTest, WhereTheClusterIsNotNeededItChangesNoDecision) {
  const Timestamp now = Day(400);
  ClusterSnapshot full{
      .self = "a",
      .members = {Member("a", "127.0.0.1:1", {0}, now), Member("b", "127.0.0.1:2", {1}, now)}};
  const ClusterSnapshot empty;
  const PartitionOf partition_of = [](std::string_view key, std::int32_t) {
    return key.starts_with("k0") ? 0 : 1;
  };
  int skipped = 0;
  for (const std::optional<std::set<std::int32_t>>& owned :
       {std::optional<std::set<std::int32_t>>(), std::optional<std::set<std::int32_t>>({0}),
        std::optional<std::set<std::int32_t>>({0, 1})}) {
    for (std::int32_t count : {0, 2}) {
      for (bool restoring : {false, true}) {
        for (bool failed : {false, true}) {
          for (bool mismatch : {false, true}) {
            for (bool forwarded : {false, true}) {
              for (std::optional<std::int32_t> stored_on :
                   {std::optional<std::int32_t>(), std::optional<std::int32_t>(0),
                    std::optional<std::int32_t>(1)}) {
                PartitionOwnership::Snapshot ownership{.owned = owned, .count = count};
                if (restoring) ownership.restoring.insert(0);
                if (failed) ownership.failed[1] = "bad";
                ownership.partitioner_mismatch = mismatch;
                const std::optional<CustomerState> stored =
                    stored_on ? std::optional<CustomerState>(StateOn(*stored_on)) : std::nullopt;
                const std::string id = stored_on == 0 ? "k0-x" : "k1-x";
                const RouteQuestion question{
                    .raw_id = id, .stored = stored, .forwarded = forwarded};
                if (NeedsCluster(question, ownership, partition_of)) continue;
                ++skipped;
                const Route with = DecideRoute(question, &ownership, &full, partition_of, {});
                const Route without = DecideRoute(question, &ownership, &empty, partition_of, {});
                EXPECT_EQ(with.kind, without.kind);
                EXPECT_EQ(with.status, without.status);
                EXPECT_EQ(with.partition, without.partition);
                EXPECT_EQ(with.owner.instance, without.owner.instance);
              }
            }
          }
        }
      }
    }
  }
  EXPECT_GT(skipped, 0);
}

}  // namespace
}  // namespace crm
