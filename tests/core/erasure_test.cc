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

// Erasure (Eraser, through IngestProcessor): one durable commit, fences, ownership.

namespace crm {
namespace ingest_test {
namespace {

// The right to be forgotten: one commit removes the customer's state, index
// entries, open alert, undelivered alerts and place in the population.
TEST_F(IngestAlertsTest, AnErasureForgetsEverythingOfTheCustomerInOneCommit) {
  PopulationBoard population;
  clock_.Set(Day(1000));
  IngestProcessor processor(
      IngestOptions{}, &store_, &clock_, &probe_,
      {.rejects = DeadLetters{&sink_}, .population = PublishedPopulation{&population}});
  Enable(processor);
  ASSERT_TRUE(processor.Load().ok());
  std::int64_t offset = 0;
  std::vector<InputRecord> records;
  for (const std::string customer : {"steady", "kept"}) {  // for marketing: followed up
    Touchpoint consent = For(customer, Type::kConsent, customer + "-consent", 0);
    consent.channel = Channel::kEmail;
    records.push_back(Record(0, offset++, consent));
  }
  for (int i = 0; i < 20; ++i) {  // two steady buyers, in time order
    for (const std::string customer : {"steady", "kept"}) {
      records.push_back(Record(
          0, offset++, For(customer, Type::kPurchase, customer + std::to_string(i), 14 * i)));
    }
  }
  records.push_back(Record(0, offset++, For("ticker", Type::kContact, "t", 600)));
  auto result = processor.Process(records);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->alerts.size(), 2u);  // both alerted, still in the outbox
  ASSERT_EQ(population.Current()->customers(), 2);
  ASSERT_EQ(store_.partitions().at({kTopic, 0}).open_alerts, 2u);
  ASSERT_EQ(store_.outcomes().size(), 2u);  // both alerts followed up

  ErasureQueue queue;
  RecordingAuditLog audit;
  audit.fail = true;  // an erasure the audit trail cannot record does not happen
  auto refused = queue.Submit({CustomerId("steady"), "ops", Day(1001)});
  ASSERT_TRUE(processor.TakeErasures(queue, audit).ok());
  EXPECT_FALSE(refused.get().ok());
  EXPECT_TRUE(State(store_, "steady").has_value());

  audit.fail = false;
  auto erased = queue.Submit({CustomerId("steady"), "ops", Day(1001)});
  auto again = queue.Submit({CustomerId("steady"), "ops", Day(1002)});
  ASSERT_TRUE(processor.TakeErasures(queue, audit).ok());
  EXPECT_EQ(erased.get().value(), true);
  EXPECT_EQ(again.get().value(), false);  // nothing left to erase
  ASSERT_EQ(audit.records.size(), 2u);
  EXPECT_EQ(audit.records.front().customer, CustomerId("steady"));
  EXPECT_EQ(audit.records.front().requested_by, "ops");

  EXPECT_FALSE(State(store_, "steady").has_value());
  for (const auto& [partition, entries] : store_.due()) {
    for (const DueEntry& entry : entries) EXPECT_NE(entry.customer, CustomerId("steady"));
  }
  ASSERT_EQ(store_.risk().size(), 1u);
  EXPECT_EQ(store_.risk().front().customer, CustomerId("kept"));
  ASSERT_EQ(store_.outcomes().size(), 1u);  // their alert's outcome goes with them
  EXPECT_EQ(store_.outcomes().front().first, CustomerId("kept"));
  ASSERT_EQ(store_.outbox().size(), 1u);
  EXPECT_EQ(store_.outbox().begin()->second.customer_id, CustomerId("kept"));
  EXPECT_EQ(store_.partitions().at({kTopic, 0}).open_alerts, 1u);
  EXPECT_EQ(probe_.open_alerts.at(0), 1u);
  EXPECT_EQ(population.Current()->customers(), 1);
  // The population as stored agrees: a restart ranks against the one buyer left.
  PopulationBoard reloaded;
  IngestProcessor restarted(
      IngestOptions{}, &store_, &clock_, &probe_,
      {.rejects = DeadLetters{&sink_}, .population = PublishedPopulation{&reloaded}});
  ASSERT_TRUE(restarted.Load().ok());
  EXPECT_EQ(reloaded.Current()->customers(), 1);

  // The erasure is durable before it is answered: its commit was fsynced.
  EXPECT_EQ(store_.synced_commits(), 1);
  ASSERT_EQ(audit.outcomes.size(), 2u);  // the refused one was never recorded
  EXPECT_EQ(audit.outcomes[0].outcome, ErasureOutcome::kErased);
  EXPECT_EQ(audit.outcomes[1].outcome, ErasureOutcome::kNothingToErase);

  // A touchpoint of theirs that occurred before the erasure and arrives
  // after it (Kafka lag) is dropped, its offset passed over: they stay erased.
  auto late = processor.Process({Record(0, offset++, For("steady", Type::kContact, "n1", 700))});
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(late->erased, 1u);
  EXPECT_EQ(late->applied, 0u);
  EXPECT_EQ(probe_.erased, 1u);
  EXPECT_FALSE(State(store_, "steady").has_value());
  EXPECT_EQ(store_.partitions().at({kTopic, 0}).next_offset, offset);
  // New touchpoints after the erasure start a new, unrelated history.
  clock_.Set(Day(1003));
  ASSERT_TRUE(
      processor.Process({Record(0, offset++, For("steady", Type::kContact, "n2", 1002.5))}).ok());
  EXPECT_EQ(State(store_, "steady")->events_applied, 1u);
}

// A customer erased before their touchpoints were read (still in Kafka lag)
// is not created by them: the fence is set on the partition the request was
// routed by; touchpoints after the erasure are applied; and fences older
// than the input's retention are forgotten.
TEST_F(IngestProcessorTest, AnErasureFenceDropsTheLaggingTouchpointsOfACustomerNotYetKnown) {
  clock_.Set(Day(100));
  IngestOptions options;
  options.erasure_fence_ttl = std::chrono::hours(24 * 7);
  IngestProcessor processor(options, &store_, &clock_, &probe_, {.rejects = DeadLetters{&sink_}});
  ASSERT_TRUE(processor.Load().ok());
  auto erased = processor.Erase({.customer = CustomerId("lagging"),
                                 .requested_by = "ops",
                                 .requested_at = Day(99),
                                 .partition = 2});
  ASSERT_TRUE(erased.ok()) << erased.status();
  EXPECT_FALSE(*erased);  // nothing to erase yet
  EXPECT_EQ(store_.partitions().at({kTopic, 2}).erasure_fences.size(), 1u);
  auto result = processor.Process({Record(2, 0, For("lagging", Type::kPurchase, "l1", 98)),
                                   Record(2, 1, For("lagging", Type::kContact, "l2", 99)),
                                   Record(2, 2, For("other", Type::kContact, "o1", 98))});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->erased, 2u);
  EXPECT_EQ(result->applied, 1u);
  EXPECT_FALSE(State(store_, "lagging").has_value());
  ASSERT_TRUE(processor.Process({Record(2, 3, For("lagging", Type::kContact, "l3", 99.5))}).ok());
  EXPECT_EQ(State(store_, "lagging")->events_applied, 1u);
  // A week and more later, another erasure on the partition forgets the old fence.
  clock_.Set(Day(110));
  ASSERT_TRUE(processor
                  .Erase({.customer = CustomerId("other"),
                          .requested_by = "ops",
                          .requested_at = Day(110),
                          .partition = 2})
                  .value());
  const auto fences =
      store_.partitions().at({kTopic, 2}).erasure_fences;  // a copy: partitions() is one
  ASSERT_EQ(fences.size(), 1u);
  EXPECT_EQ(fences.begin()->first, EventIdHash("other"));
}

// Erasure reaches the owner: an instance refuses to erase a customer of a
// partition it does not own now (even one whose state it still holds from
// before a rebalance), answering neither true nor false, and writes nothing.
TEST_F(IngestAlertsTest, AnErasureOfACustomerOfAnotherInstancesPartitionIsRefused) {
  clock_.Set(Day(10));
  IngestProcessor processor(IngestOptions{}, &store_, &clock_, &probe_,
                            {.rejects = DeadLetters{&sink_}});
  ASSERT_TRUE(processor.Load().ok());
  ASSERT_TRUE(processor
                  .Process({Record(0, 0, For("mine", Type::kPurchase, "m1", 1)),
                            Record(1, 0, For("theirs", Type::kPurchase, "t1", 1))})
                  .ok());
  ASSERT_TRUE(processor.SetAssignment({0}).ok());  // partition 1 moved to another instance
  ErasureQueue queue;
  RecordingAuditLog audit;
  auto stale = queue.Submit({CustomerId("theirs"), "ops", Day(2)});
  auto unknown = queue.Submit({CustomerId("never-seen"), "ops", Day(2), /*partition=*/1});
  auto mine = queue.Submit({CustomerId("mine"), "ops", Day(2), /*partition=*/0});
  ASSERT_TRUE(processor.TakeErasures(queue, audit).ok());
  const absl::StatusOr<bool> stale_answer = stale.get();
  EXPECT_EQ(stale_answer.status().code(), absl::StatusCode::kUnavailable) << stale_answer.status();
  EXPECT_EQ(unknown.get().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(mine.get().value(), true);
  ASSERT_EQ(audit.records.size(), 1u);  // only the erasure carried out
  EXPECT_EQ(audit.records.front().customer, CustomerId("mine"));
  EXPECT_TRUE(State(store_, "theirs").has_value());  // not this instance's to write
  EXPECT_FALSE(State(store_, "mine").has_value());
}

// An erasure the changelog did not acknowledge (the brokers gone after its
// tombstone, before its marker) is answered UNAVAILABLE and recorded as
// failed, and the processor goes on: before the next commit the partition
// is read again and fenced, so that commit's marker, of the same sequence
// number, does not vouch for the tombstone. A
// replica rebuilt from the changelog alone agrees with the local store;
// asked again, the erasure is carried out.
TEST_F(IngestChangelogTest, AnErasureTheChangelogDidNotAcknowledgeIsAnsweredNotFatal) {
  const auto batches = Stream();
  const CustomerId customer("steady-0");
  MemoryStateStore store;
  IngestProcessor owner = Owner(&store);
  for (std::int32_t p : {0, 1}) ASSERT_TRUE(owner.RestorePartition(p).ok());
  ASSERT_TRUE(owner.Process(batches[0]).ok());
  ASSERT_TRUE(owner.Process(batches[1]).ok());
  ErasureQueue queue;
  RecordingAuditLog audit;
  changelog_.FailAtMarker();
  auto failed = queue.Submit({customer, "ops", clock_.Now(), 0});
  ASSERT_TRUE(owner.TakeErasures(queue, audit).ok());  // not fatal
  EXPECT_EQ(failed.get().status().code(), absl::StatusCode::kUnavailable);
  ASSERT_EQ(audit.outcomes.size(), 1u);
  EXPECT_EQ(audit.outcomes[0].outcome, ErasureOutcome::kFailed);
  EXPECT_TRUE(store.Find(customer).value());
  const ChangelogRecord& dangling = changelog_.log(0).back();
  ASSERT_EQ(dangling.kind, ChangelogRecord::Kind::kCustomer);
  ASSERT_FALSE(dangling.state) << "the tombstone, without its marker";

  // The next commit on the partition: another customer's erasure.
  auto other = queue.Submit({CustomerId("once-0"), "ops", clock_.Now(), 0});
  ASSERT_TRUE(owner.TakeErasures(queue, audit).ok());
  EXPECT_EQ(other.get().value(), true);
  MemoryStateStore replica_store;
  IngestProcessor replica = Owner(&replica_store);
  for (std::int32_t p : {0, 1}) ASSERT_TRUE(replica.RestorePartition(p).ok());
  EXPECT_TRUE(replica_store.Find(customer).value());
  ExpectSamePartitions(store, replica_store);

  auto again = queue.Submit({customer, "ops", clock_.Now(), 0});
  ASSERT_TRUE(owner.TakeErasures(queue, audit).ok());
  EXPECT_EQ(again.get().value(), true);
  EXPECT_FALSE(store.Find(customer).value());
  ASSERT_TRUE(owner.Process(batches[2]).ok());  // and ingestion goes on
}

}  // namespace
}  // namespace ingest_test
}  // namespace crm
