// IngestLanes: the partitions dealt out among lanes that commit at once to
// one store, with what one processor would have committed.
#include "core/ingest_lanes.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "tests/core/ingest_fixture.h"

namespace crm::ingest_test {
namespace {

class IngestLanesTest : public IngestChangelogTest {
 protected:
  // Lanes on `store`, one reject sink each, with alerts on the event clock,
  // loaded and given `partitions`.
  std::unique_ptr<IngestLanes> Lanes(StateStore* store, std::size_t lanes,
                                     const std::vector<std::int32_t>& partitions,
                                     PopulationBoard* board = nullptr) {
    clock_.Set(Day(1000));
    sinks_.resize(lanes);
    std::vector<LanePorts> ports;
    for (RecordingRejectSink& sink : sinks_) ports.push_back({.rejects = &sink});
    auto made =
        std::make_unique<IngestLanes>(IngestOptions{}, store, &clock_, &lanes_probe_, ports, board,
                                      /*event_clock=*/nullptr);
    made->EnableAlerts({.scorers = &scorers_, .policy = &policy_, .clock = nullptr});
    EXPECT_TRUE(made->Load().ok());
    EXPECT_TRUE(made->SetAssignment(partitions).ok());
    return made;
  }
  // Two lanes on `store` with the changelog, given partitions 0 and 1, each
  // restored first (as the loop does at an assignment).
  std::unique_ptr<IngestLanes> OwnerLanes(StateStore* store) {
    auto lanes = Lanes(store, 2, {});
    lanes->EnableChangelog(std::vector<ChangelogContext>(
        2,
        {.sink = &changelog_, .source = &changelog_, .new_epoch = [this] { return ++epochs_; }}));
    for (std::int32_t p : {0, 1}) EXPECT_TRUE(lanes->RestorePartition(p).ok());
    EXPECT_TRUE(lanes->SetAssignment({0, 1}).ok());
    return lanes;
  }
  static std::set<std::string> AlertIds(MemoryStateStore& store) {
    std::set<std::string> ids;
    for (const auto& [sequence, alert] : store.outbox()) ids.insert(alert.outcome.alert_id);
    return ids;
  }

  std::vector<RecordingRejectSink> sinks_;  // sized once, before the lanes point at them
  NullIngestProbe lanes_probe_;             // the lanes report from their threads at once
};

TEST_F(IngestLanesTest, TwoLanesCommitWhatOneProcessorDoes) {
  const auto batches = Stream();
  MemoryStateStore alone_store;
  IngestProcessor alone = Started(&alone_store);
  ASSERT_TRUE(alone.SetAssignment({0, 1}).ok());
  MemoryStateStore lanes_store;
  auto lanes = Lanes(&lanes_store, 2, {0, 1});
  for (const auto& batch : batches) {
    auto one = alone.Process(batch);
    auto two = lanes->Process(batch);
    ASSERT_TRUE(one.ok()) << one.status();
    ASSERT_TRUE(two.ok()) << two.status();
    EXPECT_EQ(two->applied, one->applied);
    EXPECT_EQ(two->duplicates, one->duplicates);
    EXPECT_EQ(two->looks_taken, one->looks_taken);
    // A rejected record is named by its place in the batch, as one
    // processor names it.
    ASSERT_EQ(two->rejected.size(), one->rejected.size());
    for (std::size_t i = 0; i < one->rejected.size(); ++i) {
      EXPECT_EQ(two->rejected[i].index, one->rejected[i].index);
    }
  }
  ExpectSamePartitions(alone_store, lanes_store);
  ASSERT_FALSE(alone_store.outbox().empty());
  EXPECT_EQ(AlertIds(lanes_store), AlertIds(alone_store));
  EXPECT_EQ(lanes_store.outbox().size(), alone_store.outbox().size());
  // Partition 1's rejected record went to its lane's dead-letter sink.
  EXPECT_TRUE(sinks_[0].flushed.empty());
  EXPECT_EQ(sinks_[1].flushed.size(), 1u);
}

// With the changelog, each lane writes its partitions' commits: a new owner
// with one processor restores them whole, and lanes restore what one
// processor wrote.
TEST_F(IngestLanesTest, LanesAndOneProcessorHandPartitionsOverBothWays) {
  const auto batches = Stream();
  MemoryStateStore alone_store;
  IngestProcessor alone = Started(&alone_store);
  for (const auto& batch : batches) ASSERT_TRUE(alone.Process(batch).ok());

  MemoryStateStore lanes_store;
  auto lanes = OwnerLanes(&lanes_store);
  ASSERT_TRUE(lanes->Process(batches[0]).ok());
  ASSERT_TRUE(lanes->Process(batches[1]).ok());

  MemoryStateStore single_store;
  IngestProcessor single = Owner(&single_store);
  for (std::int32_t p : {0, 1}) ASSERT_TRUE(single.RestorePartition(p).ok());
  ExpectSamePartitions(lanes_store, single_store);
  ASSERT_TRUE(single.Process(batches[2]).ok());

  MemoryStateStore back_store;
  auto back = OwnerLanes(&back_store);
  ExpectSamePartitions(single_store, back_store);
  ExpectSamePartitions(alone_store, back_store);
  EXPECT_EQ(AlertIds(back_store), AlertIds(alone_store));
}

// An erasure goes to the lane of its customer's partition, which erases
// them; the lanes' population, shared, counts every lane's buyers.
TEST_F(IngestLanesTest, ErasuresFindTheirLaneAndThePopulationIsEveryLanes) {
  const auto batches = Stream();
  MemoryStateStore alone_store;
  PopulationBoard alone_board;
  IngestProcessor alone(IngestOptions{}, &alone_store, &clock_, &probe_,
                        {.population = PublishedPopulation{&alone_board}});
  ASSERT_TRUE(alone.Load().ok());
  ASSERT_TRUE(alone.SetAssignment({0, 1, 2}).ok());
  MemoryStateStore lanes_store;
  PopulationBoard board;
  auto lanes = Lanes(&lanes_store, 2, {0, 1, 2}, &board);
  for (const auto& batch : batches) {
    ASSERT_TRUE(alone.Process(batch).ok());
    ASSERT_TRUE(lanes->Process(batch).ok());
  }
  // Lane 1's buyers are not in lane 0's view (the board's) until the lanes
  // share their population again: after a step, once kShareInterval passed.
  ASSERT_GT(alone_board.Current()->customers(), 0);
  EXPECT_LT(board.Current()->customers(), alone_board.Current()->customers());
  // No erasure asked (the loop asks before every poll): the views are not
  // built again for nothing.
  ErasureQueue none;
  RecordingAuditLog no_audit;
  ASSERT_TRUE(lanes->TakeErasures(none, no_audit).ok());
  EXPECT_LT(board.Current()->customers(), alone_board.Current()->customers());
  clock_.Advance(IngestLanes::kShareInterval);
  ASSERT_TRUE(lanes->Process({}).ok());
  EXPECT_EQ(board.Current()->customers(), alone_board.Current()->customers());
  EXPECT_EQ(board.Current()->partitions(), alone_board.Current()->partitions());

  ErasureQueue queue;
  RecordingAuditLog audit;
  auto steady1 = queue.Submit({.customer = CustomerId("steady-1"), .requested_at = Day(1000)});
  auto steady0 = queue.Submit({.customer = CustomerId("steady-0"), .requested_at = Day(1000)});
  auto unknown =
      queue.Submit({.customer = CustomerId("nobody"), .requested_at = Day(1000), .partition = 2});
  ASSERT_TRUE(lanes->TakeErasures(queue, audit).ok());
  EXPECT_EQ(steady1.get().value(), true);
  EXPECT_EQ(steady0.get().value(), true);
  EXPECT_EQ(unknown.get().value(), false);
  EXPECT_EQ(lanes_store.Find(CustomerId("steady-1")).value(), std::nullopt);
  EXPECT_EQ(lanes_store.Find(CustomerId("steady-0")).value(), std::nullopt);
  // Both buyers left the population every lane sees.
  EXPECT_EQ(board.Current()->customers(), alone_board.Current()->customers() - 2);
}

// Once the input is quiet, the view every lane's population makes is
// published whole, without waiting for kShareInterval.
TEST_F(IngestLanesTest, TheViewIsWholeOnceTheInputIsQuiet) {
  MemoryStateStore alone_store;
  PopulationBoard alone_board;
  IngestProcessor alone(IngestOptions{}, &alone_store, &clock_, &probe_,
                        {.population = PublishedPopulation{&alone_board}});
  ASSERT_TRUE(alone.Load().ok());
  ASSERT_TRUE(alone.SetAssignment({0, 1}).ok());
  MemoryStateStore lanes_store;
  PopulationBoard board;
  auto lanes = Lanes(&lanes_store, 2, {0, 1}, &board);
  for (const auto& batch : Stream()) {
    ASSERT_TRUE(alone.Process(batch).ok());
    ASSERT_TRUE(lanes->Process(batch).ok());
  }
  ASSERT_LT(board.Current()->customers(), alone_board.Current()->customers());
  lanes->Idle();
  EXPECT_EQ(board.Current()->customers(), alone_board.Current()->customers());
  EXPECT_EQ(board.Current()->partitions(), alone_board.Current()->partitions());
}

// A dead-letter sink that holds the lane sending to it until it is opened.
class GatedRejectSink final : public RejectSink {
 public:
  absl::Status Send(std::int32_t, std::int64_t, std::string_view, std::string_view,
                    const Rejection&) override {
    reached_.Notify();
    opened_in_time_ = open_.WaitForNotificationWithTimeout(absl::Minutes(1));
    return absl::OkStatus();
  }
  absl::StatusOr<std::uint64_t> Flush() override { return 0; }
  bool Reached() { return reached_.WaitForNotificationWithTimeout(absl::Minutes(1)); }
  void Open() { open_.Notify(); }
  bool opened_in_time() const { return opened_in_time_; }

 private:
  absl::Notification reached_, open_;
  std::atomic<bool> opened_in_time_{false};
};

// Start hands the batch to the lanes' threads and returns: the caller polls
// the next meanwhile; Finish returns once every lane committed its part.
TEST_F(IngestLanesTest, StartReturnsWhileTheLanesApplyTheBatch) {
  clock_.Set(Day(1000));
  GatedRejectSink gate;
  MemoryStateStore store;
  IngestLanes lanes(IngestOptions{}, &store, &clock_, &lanes_probe_,
                    {{.rejects = &gate}, {.rejects = &gate}}, nullptr, nullptr);
  lanes.EnableAlerts({.scorers = &scorers_, .policy = &policy_, .clock = nullptr});
  ASSERT_TRUE(lanes.Load().ok());
  ASSERT_TRUE(lanes.SetAssignment({0, 1}).ok());
  const std::vector<InputRecord> batch = {
      Record(0, 0, For("steady-0", Type::kPurchase, "a", 1)),
      Undecodable(1, 0, "x", "garbage"),
      Record(1, 1, For("steady-1", Type::kPurchase, "b", 1)),
  };
  lanes.Start(batch);
  // Back here while partition 1's lane waits at the gate, its part not
  // committed: a Start that applied the batch itself would still be there.
  ASSERT_TRUE(gate.Reached());
  EXPECT_EQ(store.GetOffset(kTopic, 1).value(), std::nullopt);
  gate.Open();
  auto finished = lanes.Finish();
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_TRUE(gate.opened_in_time());
  EXPECT_EQ(finished->applied, 2u);
  ASSERT_EQ(finished->rejected.size(), 1u);
  EXPECT_EQ(finished->rejected[0].index, 1u);
  EXPECT_EQ(store.GetOffset(kTopic, 0).value(), 1);
  EXPECT_EQ(store.GetOffset(kTopic, 1).value(), 2);
}

}  // namespace
}  // namespace crm::ingest_test
