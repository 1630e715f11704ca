#include "core/ingest_loop.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "core/erasure.h"
#include "core/ingest_lanes.h"
#include "core/ingest_processor.h"
#include "core/partition_ownership.h"
#include "core/state_store.h"
#include "core/touchpoint_source.h"
#include "tests/core/test_touchpoints.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/memory_changelog.h"
#include "tests/fakes/memory_state_store.h"
#include "tests/fakes/recording_audit_log.h"
#include "tests/fakes/recording_probe.h"

namespace crm {
namespace {

using namespace std::chrono_literals;
using testing::Day;
using testing::FakeClock;
using testing::MakeTouchpoint;
using testing::MemoryChangelog;
using testing::MemoryStateStore;
using testing::RecordingAuditLog;
using Type = TouchpointType;

constexpr char kTopic[] = "crm.touchpoints";

InputRecord Record(std::int32_t partition, std::int64_t offset, const std::string& customer,
                   Type type, const std::string& event_id, double day) {
  Touchpoint tp = MakeTouchpoint(type, event_id, day);
  tp.customer_id = CustomerId(customer);
  InputRecord record;
  record.partition = partition;
  record.offset = offset;
  record.key = customer;
  record.value = "original bytes";
  record.payload = std::move(tp);
  return record;
}

// A TouchpointSource that plays a script, one step per Poll, as the Kafka
// adapter would: a step may deliver a rebalance (Prepare, then Apply) and
// records. When the script is done, it stops the loop. The clock moves on by
// `tick` at each poll.
class ScriptedSource final : public TouchpointSource {
 public:
  using Step = std::function<absl::Status(AssignmentListener&, SourceBatch&)>;
  // Positions follow `store`'s committed offsets, as the Kafka adapter's.
  ScriptedSource(FakeClock* clock, Micros tick, StateStore* store)
      : clock_(clock), tick_(tick), store_(store) {}

  void set_loop(IngestLoop* loop) { loop_ = loop; }
  void Then(Step step) { script_.push_back(std::move(step)); }
  void ThenAssign(std::vector<std::int32_t> partitions, std::int32_t count,
                  bool incremental = false) {
    Then([this, partitions, count, incremental](AssignmentListener& listener, SourceBatch&) {
      return Assign(listener, partitions, count, incremental);
    });
  }
  void ThenRevoke(std::vector<std::int32_t> partitions, bool incremental = false) {
    Then([partitions, incremental](AssignmentListener& listener, SourceBatch&) {
      return listener.Apply(
          {.assigned = false, .incremental = incremental, .partitions = partitions});
    });
  }
  void ThenRecords(std::vector<InputRecord> records) {
    Then([records](AssignmentListener&, SourceBatch& batch) {
      batch.records = records;
      return absl::OkStatus();
    });
  }
  void ThenNothing(int polls = 1) {
    for (int i = 0; i < polls; ++i) {
      Then([](AssignmentListener&, SourceBatch&) { return absl::OkStatus(); });
    }
  }

  absl::Status Assign(AssignmentListener& listener, std::vector<std::int32_t> partitions,
                      std::int32_t count, bool incremental) {
    auto unprepared = listener.Prepare(partitions);
    if (!unprepared.ok()) return unprepared.status();
    paused.insert(unprepared->begin(), unprepared->end());
    return listener.Apply({.assigned = true,
                           .incremental = incremental,
                           .partitions = std::move(partitions),
                           .partition_count = count});
  }

  absl::Status Start(AssignmentListener* listener) override {
    listener_ = listener;
    return absl::OkStatus();
  }
  absl::Status Poll(int timeout_ms, std::size_t, SourceBatch& batch) override {
    poll_timeouts.push_back(timeout_ms);
    batch.records.clear();
    batch.produced_at.clear();
    batch.disconnected = false;
    clock_->Advance(tick_);
    absl::Status status;
    if (script_.empty()) {
      loop_->Stop();
    } else {
      Step step = std::move(script_.front());
      script_.pop_front();
      status = step(*listener_, batch);
    }
    // What a Rewind moved back to comes first.
    if (!redeliver.empty()) batch.records = std::exchange(redeliver, {});
    delivered_.insert(delivered_.end(), batch.records.begin(), batch.records.end());
    return status;
  }
  bool TakeBrokersDown() override { return std::exchange(brokers_down, false); }
  bool BrokersAnswer(int) override {
    ++probes;
    return brokers_answer;
  }
  void Rewind() override {
    // What was delivered past the stored offsets is read again.
    ++rewinds;
    redeliver.clear();
    for (const InputRecord& record : std::exchange(delivered_, {})) {
      auto stored = store_->GetOffset(kTopic, record.partition);
      if (!stored.ok() || !*stored || record.offset >= **stored) redeliver.push_back(record);
    }
  }
  void Commit(const std::map<std::int32_t, std::int64_t>& next_offsets) override {
    commits.push_back(next_offsets);
  }
  std::vector<PartitionLag> Lag() override { return lag; }
  void Close() override { closed = true; }

  // What the loop did with the source, and what the source says next.
  std::vector<int> poll_timeouts;
  std::vector<std::map<std::int32_t, std::int64_t>> commits;
  std::set<std::int32_t> paused;  // partitions the loop did not prepare
  int rewinds = 0;
  int probes = 0;
  bool closed = false;
  bool brokers_down = false;
  bool brokers_answer = true;
  std::vector<PartitionLag> lag;
  std::vector<InputRecord> redeliver;

 private:
  FakeClock* clock_;
  Micros tick_;
  StateStore* store_;
  IngestLoop* loop_ = nullptr;
  AssignmentListener* listener_ = nullptr;
  std::deque<Step> script_;
  std::vector<InputRecord> delivered_;
};

class RecordingListener final : public IngestListener {
 public:
  void IngestingChanged(bool now) override { ingesting.push_back(now); }
  void Log(Severity severity, std::string_view message) override {
    lines.push_back({severity, std::string(message)});
  }
  int Count(std::string_view part) const {
    int n = 0;
    for (const auto& [severity, line] : lines) n += line.find(part) != std::string::npos;
    return n;
  }
  std::vector<bool> ingesting;
  std::vector<std::pair<Severity, std::string>> lines;
};

class RecordingCluster final : public PopulationExchange {
 public:
  void Claim(std::set<std::int32_t> partitions, std::int32_t count) override {
    claims.push_back(std::move(partitions));
    partition_count = count;
  }
  void PublishPopulation(std::int32_t partition, const std::vector<PopulationCell>&) override {
    published.push_back(partition);
  }
  std::vector<std::set<std::int32_t>> claims;
  std::int32_t partition_count = 0;
  std::vector<std::int32_t> published;
};

// Gives every key partition 0.
class FirstPartition final : public KeyPartitioner {
 public:
  std::int32_t PartitionOf(std::string_view, std::int32_t) const override { return 0; }
  std::string_view name() const override { return "first"; }
};

// A store whose commits fail as on a full disk while `full` is set.
class FullDiskStore final : public testing::ForwardingStateStore {
 public:
  explicit FullDiskStore(StateStore* inner) : ForwardingStateStore(inner) {}
  absl::Status Commit(const std::string& topic, const StateBatch& batch) override {
    if (full) return StorageFullError("no space left on device");
    return ForwardingStateStore::Commit(topic, batch);
  }
  bool full = false;
};

// Every test runs with one IngestProcessor (0), which applies a batch as it
// is started, and with two IngestLanes (2), which apply it while the loop
// polls the next.
class IngestLoopTest : public ::testing::TestWithParam<int> {
 protected:
  // Runs a loop over `source`'s script with `processor`, to its end.
  absl::Status RunLoop(Ingest& processor, IngestLoopOptions options = {}) {
    IngestLoop loop(options, &source_,
                    {.processor = &processor,
                     .probe = &probe_,
                     .clock = &clock_,
                     .listener = &listener_,
                     .erasures = &erasures_,
                     .audit = &audit_,
                     .ownership = &ownership_,
                     .cluster = &cluster_,
                     .partitioner = partitioner_});
    source_.set_loop(&loop);
    return loop.Run();
  }
  IngestProcessor MakeProcessor(StateStore* store) {
    IngestProcessor processor(IngestOptions{}, store, &clock_, &probe_, IngestMode{});
    EXPECT_TRUE(processor.Load().ok());
    return processor;
  }
  // What the test's loop drives (see GetParam), with `changelog` if given.
  std::unique_ptr<Ingest> MakeIngest(StateStore* store,
                                     const std::optional<ChangelogContext>& changelog = {}) {
    if (GetParam() == 0) {
      auto processor = std::make_unique<IngestProcessor>(MakeProcessor(store));
      if (changelog) processor->EnableChangelog(*changelog);
      return processor;
    }
    auto lanes = std::make_unique<IngestLanes>(
        IngestOptions{}, store, &clock_, &probe_,
        std::vector<LanePorts>(static_cast<std::size_t>(GetParam())), nullptr, nullptr);
    EXPECT_TRUE(lanes->Load().ok());
    if (changelog) {
      lanes->EnableChangelog(
          std::vector<ChangelogContext>(static_cast<std::size_t>(GetParam()), *changelog));
    }
    return lanes;
  }
  std::optional<std::int64_t> Offset(StateStore& store, std::int32_t partition) {
    auto offset = store.GetOffset(kTopic, partition);
    EXPECT_TRUE(offset.ok()) << offset.status();
    return offset.ok() ? *offset : std::nullopt;
  }

  FakeClock clock_{Day(100)};
  MemoryStateStore store_;
  ScriptedSource source_{&clock_, 300ms, &store_};
  testing::RecordingProbe probe_;
  RecordingListener listener_;
  ErasureQueue erasures_;
  RecordingAuditLog audit_;
  PartitionOwnership ownership_;
  RecordingCluster cluster_;
  const KeyPartitioner* partitioner_ = nullptr;
};

INSTANTIATE_TEST_SUITE_P(OneProcessorAndTwoLanes, IngestLoopTest, ::testing::Values(0, 2));

TEST_P(IngestLoopTest, AssignedPartitionsAreOwnedClaimedAndTheirRecordsCommitted) {
  auto processor = MakeIngest(&store_);
  source_.ThenAssign({0, 1}, 2);
  source_.ThenRecords({Record(0, 10, "a", Type::kPurchase, "1", 1),
                       Record(1, 4, "b", Type::kContact, "2", 1),
                       Record(0, 11, "c", Type::kPurchase, "3", 2)});
  source_.ThenNothing(10);  // 3 s: the population is published
  ASSERT_TRUE(RunLoop(*processor, {.population_publish_ms = 1000}).ok());

  EXPECT_EQ(ownership_.Owned().first, (std::set<std::int32_t>{0, 1}));
  EXPECT_EQ(ownership_.Owned().second, 2);
  ASSERT_FALSE(cluster_.claims.empty());
  EXPECT_EQ(cluster_.claims.back(), (std::set<std::int32_t>{0, 1}));
  EXPECT_EQ(cluster_.partition_count, 2);
  // Applied, committed in the store, then told to the source.
  EXPECT_EQ(Offset(store_, 0), 12);
  EXPECT_EQ(Offset(store_, 1), 5);
  ASSERT_EQ(source_.commits.size(), 1u);
  EXPECT_EQ(source_.commits[0], (std::map<std::int32_t, std::int64_t>{{0, 12}, {1, 5}}));
  EXPECT_TRUE(ownership_.ProgressOf(0).committed_at.has_value());
  EXPECT_TRUE(ownership_.Serves(0));
  EXPECT_TRUE(
      std::set<std::int32_t>(cluster_.published.begin(), cluster_.published.end()).contains(0));
  EXPECT_TRUE(source_.closed);
  EXPECT_TRUE(listener_.ingesting.empty());  // never stopped
}

TEST_P(IngestLoopTest, ARevocationTakesItsPartitionsAway) {
  auto processor = MakeIngest(&store_);
  source_.ThenAssign({0, 1, 2}, 3, /*incremental=*/true);
  source_.ThenRevoke({1}, /*incremental=*/true);  // cooperative: partition 1 only
  source_.Then([this](AssignmentListener&, SourceBatch&) {
    EXPECT_EQ(ownership_.Owned().first, (std::set<std::int32_t>{0, 2}));
    EXPECT_EQ(cluster_.claims.back(), (std::set<std::int32_t>{0, 2}));
    return absl::OkStatus();
  });
  source_.ThenAssign({0, 1}, 0);  // eager: replaces the assignment (count not known)
  source_.ThenRevoke({0, 1});     // and ends it whole
  ASSERT_TRUE(RunLoop(*processor).ok());
  ASSERT_EQ(cluster_.claims.size(), 4u);
  EXPECT_EQ(cluster_.claims[2], (std::set<std::int32_t>{0, 1}));
  EXPECT_EQ(ownership_.Owned().first, std::set<std::int32_t>{});
  EXPECT_EQ(cluster_.claims.back(), std::set<std::int32_t>{});
  EXPECT_EQ(cluster_.partition_count, 3);  // as last learnt
}

TEST_P(IngestLoopTest, APartitionGivenIsRestoredFromItsChangelogBeforeItsRecordsAreRead) {
  MemoryChangelog changelog;
  std::uint64_t epochs = 0;
  const ChangelogContext context{
      .sink = &changelog, .source = &changelog, .new_epoch = [&epochs] { return ++epochs; }};
  // Its previous owner committed two customers of partition 0.
  MemoryStateStore previous_store;
  IngestProcessor previous = MakeProcessor(&previous_store);
  previous.EnableChangelog(context);
  ASSERT_TRUE(previous.RestorePartition(0).ok());
  ASSERT_TRUE(previous
                  .Process({Record(0, 0, "a", Type::kPurchase, "1", 1),
                            Record(0, 1, "b", Type::kPurchase, "2", 1)})
                  .ok());

  auto processor = MakeIngest(&store_, context);
  source_.ThenAssign({0}, 1);
  source_.Then([this](AssignmentListener&, SourceBatch& batch) {
    // Positioned after the restore: at the offset the previous owner reached.
    EXPECT_EQ(Offset(store_, 0), 2);
    batch.records = {Record(0, 2, "a", Type::kContact, "3", 2)};
    return absl::OkStatus();
  });
  ASSERT_TRUE(RunLoop(*processor, {.restore_from_changelog = true}).ok());

  EXPECT_TRUE(store_.states().contains(CustomerId("b")));
  EXPECT_EQ(Offset(store_, 0), 3);
  EXPECT_TRUE(source_.paused.empty());
  EXPECT_TRUE(ownership_.Serves(0));
  EXPECT_EQ(listener_.Count("restored crm.touchpoints[0]"), 1);
}

TEST_P(IngestLoopTest, APartitionThatCannotBeRestoredIsOwnedButNotConsumed) {
  MemoryChangelog changelog;
  changelog.Append(0, {.kind = ChangelogRecord::Kind::kUnreadable, .customer = CustomerId("a")});
  std::uint64_t epochs = 0;
  auto processor = MakeIngest(
      &store_, ChangelogContext{.sink = &changelog, .source = &changelog, .new_epoch = [&epochs] {
                                  return ++epochs;
                                }});
  source_.ThenAssign({0, 1}, 2);
  ASSERT_TRUE(RunLoop(*processor, {.restore_from_changelog = true}).ok());

  EXPECT_EQ(source_.paused, std::set<std::int32_t>{0});
  EXPECT_EQ(probe_.restores_failed, 1);
  EXPECT_EQ(ownership_.Owned().first, (std::set<std::int32_t>{0, 1}));
  EXPECT_FALSE(ownership_.Serves(0));  // its customers are answered UNAVAILABLE
  EXPECT_TRUE(ownership_.Serves(1));
  EXPECT_EQ(listener_.Count("cannot restore crm.touchpoints[0]"), 1);
}

TEST_P(IngestLoopTest, ErasuresAreTakenBetweenPolls) {
  auto processor = MakeIngest(&store_);
  std::future<absl::StatusOr<bool>> erased;
  source_.ThenAssign({0}, 1);
  source_.ThenRecords({Record(0, 0, "a", Type::kPurchase, "1", 1)});
  source_.Then([&](AssignmentListener&, SourceBatch&) {
    erased = erasures_.Submit({CustomerId("a"), "ops", Day(100)});
    return absl::OkStatus();
  });
  source_.ThenNothing();
  ASSERT_TRUE(RunLoop(*processor).ok());

  ASSERT_EQ(erased.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(erased.get().value(), true);
  EXPECT_FALSE(store_.states().contains(CustomerId("a")));
  EXPECT_EQ(audit_.records.size(), 1u);
}

TEST_P(IngestLoopTest, UnreachableBrokersPauseIngestionUntilOneAnswers) {
  auto processor = MakeIngest(&store_);
  source_.ThenAssign({0}, 1);
  source_.Then([this](AssignmentListener&, SourceBatch&) {
    source_.brokers_down = true;
    source_.brokers_answer = false;
    return absl::OkStatus();
  });
  source_.ThenNothing(5);  // 1.5 s: asked once, no answer
  source_.Then([this](AssignmentListener&, SourceBatch&) {
    source_.brokers_answer = true;
    return absl::OkStatus();
  });
  source_.ThenNothing(5);
  ASSERT_TRUE(RunLoop(*processor).ok());

  EXPECT_EQ(listener_.ingesting, (std::vector<bool>{false, true}));
  EXPECT_EQ(probe_.connected_changes, (std::vector<bool>{false, true}));
  EXPECT_GE(source_.probes, 2);
  EXPECT_EQ(listener_.Count("brokers unreachable"), 1);
  EXPECT_EQ(listener_.Count("brokers reachable again"), 1);
}

TEST_P(IngestLoopTest, ABrokerLostDuringAPollPausesIngestionToo) {
  auto processor = MakeIngest(&store_);
  source_.Then([](AssignmentListener&, SourceBatch& batch) {
    batch.disconnected = true;
    return absl::OkStatus();
  });
  source_.ThenRecords({Record(0, 0, "a", Type::kPurchase, "1", 1)});  // records: back
  ASSERT_TRUE(RunLoop(*processor).ok());
  EXPECT_EQ(listener_.ingesting, (std::vector<bool>{false, true}));
  EXPECT_EQ(Offset(store_, 0), 1);
}

TEST_P(IngestLoopTest, AFullDiskPausesIngestionAndRetriesFromTheStoredOffsets) {
  FullDiskStore disk(&store_);
  auto processor = MakeIngest(&disk);
  source_.ThenAssign({0}, 1);
  source_.Then([&](AssignmentListener&, SourceBatch& batch) {
    disk.full = true;
    batch.records = {Record(0, 0, "a", Type::kPurchase, "1", 1)};
    return absl::OkStatus();
  });
  source_.Then([&](AssignmentListener&, SourceBatch&) {
    disk.full = false;  // space again: the next retry reads the records again
    return absl::OkStatus();
  });
  source_.ThenNothing(3);
  ASSERT_TRUE(RunLoop(*processor, {.storage_retry_ms = 0}).ok());

  EXPECT_EQ(listener_.ingesting, (std::vector<bool>{false, true}));
  EXPECT_EQ(probe_.storage_full, (std::vector<bool>{true, false}));
  EXPECT_GE(source_.rewinds, 1);
  EXPECT_EQ(Offset(store_, 0), 1);  // committed at the retry
  ASSERT_EQ(source_.commits.size(), 1u);
  EXPECT_EQ(listener_.Count("the disk is full"), 1);
}

TEST_P(IngestLoopTest, LagAndFreshnessAreReported) {
  auto processor = MakeIngest(&store_);
  source_.lag = {{0, 7}};
  source_.ThenAssign({0}, 1);
  source_.Then([this](AssignmentListener&, SourceBatch& batch) {
    batch.records = {Record(0, 0, "a", Type::kPurchase, "1", 1)};
    batch.produced_at = {clock_.Now() - 5s};
    return absl::OkStatus();
  });
  source_.ThenNothing(5);
  ASSERT_TRUE(RunLoop(*processor).ok());
  EXPECT_EQ(probe_.lag[0], 7);
  EXPECT_EQ(ownership_.ProgressOf(0).lag, 7);
  EXPECT_EQ(probe_.visible, std::vector<Micros>{5s});
}

TEST_P(IngestLoopTest, ARecordOnAnotherPartitionThanItsKeysIsToldOnce) {
  const FirstPartition first;
  partitioner_ = &first;
  auto processor = MakeIngest(&store_);
  source_.ThenAssign({0, 1}, 2);
  source_.ThenRecords({Record(0, 0, "a", Type::kPurchase, "1", 1),
                       Record(1, 0, "b", Type::kPurchase, "2", 1),
                       Record(1, 1, "c", Type::kPurchase, "3", 1)});
  ASSERT_TRUE(RunLoop(*processor).ok());
  EXPECT_TRUE(ownership_.partitioner_mismatch());
  EXPECT_EQ(listener_.Count("by --partitioner first"), 1);
  EXPECT_EQ(Offset(store_, 1), 2);  // applied all the same
}

TEST_P(IngestLoopTest, AFatalSourceErrorEndsTheLoop) {
  auto processor = MakeIngest(&store_);
  source_.Then([](AssignmentListener&, SourceBatch&) {
    return absl::InternalError("fatal Kafka error: boom");
  });
  source_.ThenNothing(3);
  const absl::Status status = RunLoop(*processor);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(source_.poll_timeouts.size(), 1u);
  EXPECT_TRUE(source_.closed);
}

}  // namespace
}  // namespace crm
