#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/core/ingest_fixture.h"

// The hand-over of partitions (PartitionHandOver, through IngestProcessor): the changelog,
// epochs and fences, restore, delivered alerts.

namespace crm {
namespace ingest_test {
namespace {

TEST_F(IngestChangelogTest, APartitionMovesToAnEmptyStoreWholeAndGoesOnAsIfItHadNotMoved) {
  const auto batches = Stream();
  MemoryStateStore alone_store;  // the reference: one processor, no changelog
  IngestProcessor alone = Started(&alone_store);
  for (const auto& batch : batches) ASSERT_TRUE(alone.Process(batch).ok());

  MemoryStateStore first_store;
  IngestProcessor first = Owner(&first_store);
  for (std::int32_t p : {0, 1}) ASSERT_TRUE(first.RestorePartition(p).ok());
  ASSERT_TRUE(first.Process(batches[0]).ok());
  ASSERT_TRUE(first.Process(batches[1]).ok());

  MemoryStateStore second_store;
  IngestProcessor second = Owner(&second_store);
  for (std::int32_t p : {0, 1}) {
    std::vector<std::uint64_t> progress;
    const std::size_t written = changelog_.log(p).size();
    auto restored = second.RestorePartition(p, [&](std::uint64_t n) { progress.push_back(n); });
    ASSERT_TRUE(restored.ok()) << restored.status();
    EXPECT_EQ(restored->records, written);  // all of it: the new store had nothing
    EXPECT_GT(restored->customers, 0u);
    EXPECT_EQ(restored->dropped, 0u);
    EXPECT_TRUE(restored->new_epoch);
    ASSERT_FALSE(progress.empty());
    EXPECT_EQ(progress.back(), restored->records);
  }
  ExpectSamePartitions(first_store, second_store);
  auto last = second.Process(batches[2]);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_FALSE(second_store.outbox().empty());  // the overdue steady buyers
  ExpectSamePartitions(alone_store, second_store);
  // Each alert as the lone processor raised it, once.
  EXPECT_EQ(second_store.outbox().size(), alone_store.outbox().size());
}

// A store that keeps the encoded states each commit brought.
class EncodedSeenStore final : public testing::ForwardingStateStore {
 public:
  using ForwardingStateStore::ForwardingStateStore;
  absl::Status Commit(const std::string& topic, const StateBatch& batch) override {
    EXPECT_TRUE(batch.encoded.empty() || batch.encoded.size() == batch.customers.size());
    seen.insert(seen.end(), batch.encoded.begin(), batch.encoded.end());
    return ForwardingStateStore::Commit(topic, batch);
  }
  std::vector<std::string> seen;
};

TEST_F(IngestChangelogTest, EachCommitEncodesEachStateOnceForTheChangelogAndTheStore) {
  const auto batches = Stream();
  MemoryStateStore memory;
  EncodedSeenStore store(&memory);
  std::vector<std::string> encodings;  // each call's bytes: distinct, so each is traced
  IngestOptions options;
  options.encode = [&encodings](const CustomerState& state) {
    encodings.push_back(std::to_string(encodings.size()) + "/" +
                        std::to_string(state.events_applied));
    return encodings.back();
  };
  IngestProcessor processor = Started(&store, std::move(options));
  processor.EnableChangelog(
      {.sink = &changelog_, .source = &changelog_, .new_epoch = [this] { return ++epochs_; }});
  for (std::int32_t p : {0, 1}) ASSERT_TRUE(processor.RestorePartition(p).ok());
  for (const auto& batch : batches) ASSERT_TRUE(processor.Process(batch).ok());
  // Each state written was encoded once, and those bytes went to both.
  std::size_t written = 0;
  for (std::int32_t p : {0, 1}) {
    for (const ChangelogRecord& record : changelog_.log(p)) {
      if (record.kind == ChangelogRecord::Kind::kCustomer && record.state) ++written;
    }
  }
  EXPECT_GT(written, 0u);
  EXPECT_EQ(encodings.size(), written);
  EXPECT_EQ(store.seen, encodings);                              // in the commit's order
  std::vector<std::string> in_changelog = changelog_.encoded();  // by partition
  std::sort(in_changelog.begin(), in_changelog.end());
  std::sort(encodings.begin(), encodings.end());
  EXPECT_EQ(in_changelog, encodings);
  // The states committed are the ones a processor without the changelog keeps.
  MemoryStateStore alone_store;
  IngestProcessor alone = Started(&alone_store);
  for (const auto& batch : batches) ASSERT_TRUE(alone.Process(batch).ok());
  ExpectSamePartitions(alone_store, memory);
}

// Every shared state is its customer's committed one: after commits, a
// commit that failed, and an erasure.
TEST_F(IngestChangelogTest, OnlyCommittedStatesOfCachedCustomersAreShared) {
  const auto batches = Stream();
  MemoryStateStore store;
  SharedStates shared;
  IngestOptions options;
  options.encode = [](const CustomerState& state) {
    return std::to_string(state.partition) + "/" + std::to_string(state.events_applied);
  };
  options.shared = &shared;
  options.cache_entries = 10;  // fewer than the stream's customers: some are evicted
  IngestProcessor processor = Started(&store, std::move(options));
  processor.EnableChangelog(
      {.sink = &changelog_, .source = &changelog_, .new_epoch = [this] { return ++epochs_; }});
  for (std::int32_t p : {0, 1}) ASSERT_TRUE(processor.RestorePartition(p).ok());
  const auto expect_committed = [&](const char* when) {
    const std::map<CustomerId, CustomerState> committed = store.states();
    for (const auto& [id, state] : committed) {
      if (std::shared_ptr<const std::string> bytes = shared.Find(id)) {
        EXPECT_EQ(*bytes,
                  std::to_string(state.partition) + "/" + std::to_string(state.events_applied))
            << when << ": " << id.value();
      }
    }
    EXPECT_LE(shared.size(), 10u) << when;
  };
  ASSERT_TRUE(processor.Process(batches[0]).ok());
  expect_committed("after a commit");
  EXPECT_GT(shared.size(), 0u);
  changelog_.FailAfter(3);  // the next commit fails: its states are not committed
  EXPECT_FALSE(processor.Process(batches[1]).ok());
  expect_committed("after a failed commit");
  ASSERT_TRUE(processor.Process(batches[1]).ok());
  ASSERT_TRUE(processor.Process(batches[2]).ok());
  expect_committed("after the stream");
  const CustomerId steady("steady-0");
  ASSERT_NE(shared.Find(steady), nullptr);  // its touchpoints came last in its partition
  ASSERT_TRUE(processor.Erase(steady).ok());
  EXPECT_EQ(shared.Find(steady), nullptr);
}

TEST_F(IngestChangelogTest, ACommitCutShortIsNeitherRestoredNorLeftToHideTheStatesBeforeIt) {
  const auto batches = Stream();
  MemoryStateStore first_store;
  IngestProcessor first = Owner(&first_store);
  for (std::int32_t p : {0, 1}) ASSERT_TRUE(first.RestorePartition(p).ok());
  ASSERT_TRUE(first.Process(batches[0]).ok());
  changelog_.FailAfter(3);  // the owner dies three records into the next commit
  EXPECT_FALSE(first.Process(batches[1]).ok());

  MemoryStateStore second_store;
  IngestProcessor second = Owner(&second_store);
  std::uint64_t dropped = 0, rewritten = 0;
  for (std::int32_t p : {0, 1}) {
    auto restored = second.RestorePartition(p);
    ASSERT_TRUE(restored.ok()) << restored.status();
    dropped += restored->dropped;
    rewritten += restored->rewritten;
  }
  EXPECT_EQ(dropped, 3u);
  EXPECT_GT(rewritten, 0u);
  ExpectSamePartitions(first_store, second_store);  // as of the last complete commit
  // The dropped records' customers were written again: their latest record
  // in the changelog is the new owner's, so compaction cannot keep the
  // dropped one alone.
  for (std::int32_t p : {0, 1}) {
    const PartitionState left = first_store.partitions().at({kTopic, p});
    std::map<CustomerId, ChangelogStamp> latest;
    for (const ChangelogRecord& record : changelog_.log(p)) {
      if (record.kind == ChangelogRecord::Kind::kCustomer) latest[record.customer] = record.stamp;
    }
    for (const auto& [id, stamp] : latest) {
      // Of a commit the first owner completed, or the new owner's.
      EXPECT_TRUE(stamp.epoch != left.epoch || stamp.seq <= left.seq) << id.value();
    }
  }
  // It goes on from there as a lone processor would.
  ASSERT_TRUE(second.Process(batches[1]).ok());
  ASSERT_TRUE(second.Process(batches[2]).ok());
  MemoryStateStore alone_store;
  IngestProcessor alone = Started(&alone_store);
  for (const auto& batch : batches) ASSERT_TRUE(alone.Process(batch).ok());
  ExpectSamePartitions(alone_store, second_store);
  // And a third owner, from the changelog alone, agrees.
  MemoryStateStore third_store;
  IngestProcessor third = Owner(&third_store);
  for (std::int32_t p : {0, 1}) ASSERT_TRUE(third.RestorePartition(p).ok());
  ExpectSamePartitions(second_store, third_store);
}

TEST_F(IngestChangelogTest, ARecordThatCannotBeRestoredCostsItsPartitionOnlyUntilSuperseded) {
  const auto batches = Stream();
  MemoryStateStore first_store;
  IngestProcessor first = Owner(&first_store);
  for (std::int32_t p : {0, 1}) ASSERT_TRUE(first.RestorePartition(p).ok());
  for (const auto& batch : batches) ASSERT_TRUE(first.Process(batch).ok());
  // A poisoned record of a customer of partition 0.
  const std::int64_t poisoned_at = static_cast<std::int64_t>(changelog_.log(0).size());
  changelog_.Append(
      0, {.kind = ChangelogRecord::Kind::kUnreadable, .customer = CustomerId("steady-0")});

  MemoryStateStore second_store;
  IngestProcessor second = Owner(&second_store);
  auto failed = second.RestorePartition(0);
  ASSERT_EQ(failed.status().code(), absl::StatusCode::kDataLoss) << failed.status();
  EXPECT_NE(failed.status().message().find("offset " + std::to_string(poisoned_at)),
            std::string::npos)
      << failed.status();
  EXPECT_NE(failed.status().message().find("steady-0"), std::string::npos) << failed.status();
  // Nothing of it is kept (its next restore reads the changelog from the start) ...
  EXPECT_TRUE(second_store.states().empty());
  EXPECT_FALSE(second_store.GetPartition(kTopic, 0).value().has_value());
  // ... and the other partition is restored as ever.
  ASSERT_TRUE(second.RestorePartition(1).ok());
  for (const auto& [id, state] : first_store.states()) {
    if (state.partition != 1) continue;
    SCOPED_TRACE(id.value());
    ASSERT_TRUE(second_store.states().contains(id));
    ExpectSameState(state, second_store.states().at(id));
  }

  // The operator's repair: a tombstone of the key supersedes the bad record
  // (as compaction would); the customer is restored as of their latest
  // readable record.
  changelog_.Append(0,
                    {.kind = ChangelogRecord::Kind::kCustomer, .customer = CustomerId("steady-0")});
  auto repaired = second.RestorePartition(0);
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  ExpectSamePartitions(first_store, second_store);

  // A customer's state of another partition in this one's changelog is as bad.
  CustomerState elsewhere = first_store.states().at(CustomerId("steady-1"));
  changelog_.Append(0, {.kind = ChangelogRecord::Kind::kCustomer,
                        .customer = CustomerId("steady-1"),
                        .state = elsewhere,
                        .stamp = changelog_.log(0).back().stamp});
  MemoryStateStore third_store;
  IngestProcessor third = Owner(&third_store);
  auto inconsistent = third.RestorePartition(0);
  EXPECT_EQ(inconsistent.status().code(), absl::StatusCode::kDataLoss) << inconsistent.status();
  EXPECT_NE(inconsistent.status().message().find("partition 1"), std::string::npos)
      << inconsistent.status();
}

TEST_F(IngestChangelogTest, AnOwnerGivenItsPartitionBackReadsOnlyWhatFollowsItsCheckpoint) {
  const auto batches = Stream();
  MemoryStateStore store;
  {
    IngestProcessor owner = Owner(&store);
    for (std::int32_t p : {0, 1}) ASSERT_TRUE(owner.RestorePartition(p).ok());
    for (const auto& batch : batches) ASSERT_TRUE(owner.Process(batch).ok());
  }
  const auto before = store.partitions();
  IngestProcessor again = Owner(&store);
  auto restored = again.RestorePartition(0);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->records, 0u);
  EXPECT_FALSE(restored->new_epoch);  // it wrote the latest commit itself
  EXPECT_EQ(store.partitions(), before);
}

// A owns the partitions; they move to B, who erases a customer; then to C
// (whose fence closes the segment holding the tombstone), and compaction
// removes the tombstone once its retention passed. When they come back to
// A, its checkpoint is older than that retention: A drops what it held and
// restores from the changelog's start. The customer stays erased; replaying
// from the checkpoint would have brought them back, since nothing after it
// says they were erased any more.
TEST_F(IngestChangelogTest, AnOldCheckpointIsNotReplayedFromSoAnErasedCustomerStaysErased) {
  const auto batches = Stream();
  const CustomerId erased("steady-0");
  MemoryStateStore a_store;
  {
    IngestProcessor a = Owner(&a_store);
    for (std::int32_t p : {0, 1}) ASSERT_TRUE(a.RestorePartition(p).ok());
    for (const auto& batch : batches) ASSERT_TRUE(a.Process(batch).ok());
  }
  ASSERT_TRUE(a_store.Find(erased).value());
  MemoryStateStore b_store;
  IngestProcessor b = Owner(&b_store);
  for (std::int32_t p : {0, 1}) ASSERT_TRUE(b.RestorePartition(p).ok());
  ASSERT_TRUE(b.SetAssignment({0, 1}).ok());
  ASSERT_TRUE(b.Erase(erased).value());
  MemoryStateStore c_store;
  IngestProcessor c = Owner(&c_store);
  for (std::int32_t p : {0, 1}) ASSERT_TRUE(c.RestorePartition(p).ok());
  ASSERT_FALSE(c_store.Find(erased).value());
  const std::size_t before_compaction = changelog_.log(0).size();
  changelog_.Compact(0);
  ASSERT_LT(changelog_.log(0).size(), before_compaction);
  for (const ChangelogRecord& record : changelog_.log(0)) {
    ASSERT_FALSE(record.kind == ChangelogRecord::Kind::kCustomer && record.customer == erased &&
                 !record.state)
        << "the tombstone is gone";
  }

  IngestProcessor a_again = Owner(&a_store);
  clock_.Set(clock_.Now() + std::chrono::hours(22));  // 90 % of the 24 h default, passed
  for (std::int32_t p : {0, 1}) {
    auto restored = a_again.RestorePartition(p);
    ASSERT_TRUE(restored.ok()) << restored.status();
    EXPECT_TRUE(restored->from_start) << p;
  }
  EXPECT_FALSE(a_store.Find(erased).value()) << "erased, and still erased";
  ExpectSamePartitions(c_store, a_store);
  // A checkpoint that recent is trusted again: nothing to read, nothing dropped.
  const Timestamp later = clock_.Now();
  IngestProcessor a_third = Owner(&a_store);
  clock_.Set(later);
  auto again = a_third.RestorePartition(0);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->from_start);
  EXPECT_EQ(again->records, 0u);
}

TEST_F(IngestChangelogTest, AnAlertNotYetDeliveredFollowsItsPartitionAndADeliveredOneDoesNot) {
  const auto batches = Stream();
  MemoryStateStore first_store;
  IngestProcessor first = Owner(&first_store);
  for (std::int32_t p : {0, 1}) ASSERT_TRUE(first.RestorePartition(p).ok());
  for (const auto& batch : batches) ASSERT_TRUE(first.Process(batch).ok());
  std::set<std::string> raised;
  for (const auto& [sequence, alert] : first_store.outbox()) raised.insert(alert.outcome.alert_id);
  ASSERT_EQ(raised.size(), 2u);  // the two overdue steady buyers
  // One is delivered; the next commit closes it in the changelog.
  const AlertEvent delivered = first_store.outbox().begin()->second;
  first.AlertDelivered(delivered);
  ASSERT_TRUE(first.Process({Record(0, 1000, For("later", Type::kContact, "x", 701))}).ok());

  MemoryStateStore second_store;
  IngestProcessor second = Owner(&second_store);
  for (std::int32_t p : {0, 1}) ASSERT_TRUE(second.RestorePartition(p).ok());
  std::set<std::string> pending;
  for (const auto& [sequence, alert] : second_store.outbox()) {
    pending.insert(alert.outcome.alert_id);
  }
  raised.erase(delivered.outcome.alert_id);
  EXPECT_EQ(pending, raised);
  // Restoring again (the same owner given its partitions back) adds none twice.
  for (std::int32_t p : {0, 1}) ASSERT_TRUE(second.RestorePartition(p).ok());
  EXPECT_EQ(second_store.outbox().size(), raised.size());
}

// A raise and its clear are two records of the changelog: the raise
// delivered and closed leaves the clear to deliver, which follows the
// partition to its new owner alone.
TEST_F(IngestChangelogTest, AClearNotYetDeliveredFollowsItsPartitionWithoutItsDeliveredRaise) {
  const auto batches = Stream();
  MemoryStateStore first_store;
  IngestProcessor first = Owner(&first_store);
  for (std::int32_t p : {0, 1}) ASSERT_TRUE(first.RestorePartition(p).ok());
  for (const auto& batch : batches) ASSERT_TRUE(first.Process(batch).ok());
  const std::string raised = AlertId(CustomerId("steady-0"), 1);
  std::optional<AlertEvent> raise;
  for (const auto& [sequence, alert] : first_store.outbox()) {
    if (alert.outcome.alert_id == raised) raise = alert;
  }
  ASSERT_TRUE(raise.has_value());
  first.AlertDelivered(*raise);
  // steady-0 buys again: their alert clears, in the commit that closes the raise.
  auto back = first.Process({Record(0, 1000, For("steady-0", Type::kPurchase, "back", 701))});
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->alerts.size(), 1u);
  EXPECT_EQ(back->alerts.front().outcome.transition, AlertTransition::kCleared);
  EXPECT_EQ(back->alerts.front().cleared_reason, ClearedReason::kPurchased);

  MemoryStateStore second_store;
  IngestProcessor second = Owner(&second_store);
  for (std::int32_t p : {0, 1}) ASSERT_TRUE(second.RestorePartition(p).ok());
  std::multiset<std::string> pending;
  for (const auto& [sequence, alert] : second_store.outbox()) {
    if (alert.customer_id == CustomerId("steady-0")) pending.insert(AlertDeliveryId(alert.outcome));
  }
  EXPECT_EQ(pending, std::multiset<std::string>{AlertDeliveryId(back->alerts.front().outcome)});
  for (const auto& [sequence, alert] : second_store.outbox()) {
    if (alert.customer_id != CustomerId("steady-0")) continue;
    EXPECT_EQ(alert.outcome.alert_id, raised);
    EXPECT_EQ(alert.cleared_reason, ClearedReason::kPurchased);
  }
}

}  // namespace
}  // namespace ingest_test
}  // namespace crm
