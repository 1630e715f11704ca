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

// IngestProcessor: records applied and committed whole (the pending commit), rejects, the
// population, the event clock.

namespace crm {
namespace ingest_test {
namespace {

TEST_F(IngestProcessorTest, ABatchIsAppliedAndCommittedWithEachPartitionsNextOffset) {
  IngestProcessor processor = MakeProcessor(&store_);
  const std::vector<InputRecord> batch = {
      Record(0, 10, For("a", Type::kPurchase, "1", 1)),
      Record(1, 4, For("b", Type::kContact, "2", 1)),
      Record(0, 12, For("a", Type::kContact, "3", 2)),
      Record(0, 11, For("c", Type::kComplaint, "4", 3)),  // the highest offset wins, not the last
  };
  auto result = processor.Process(batch);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->applied, 4u);
  EXPECT_EQ(result->duplicates, 0u);
  EXPECT_TRUE(result->rejected.empty());

  EXPECT_EQ(store_.commits(), 1);
  EXPECT_EQ(Offset(store_, 0), 13);
  EXPECT_EQ(Offset(store_, 1), 5);
  EXPECT_EQ(Offset(store_, 2), std::nullopt);
  EXPECT_EQ(State(store_, "a")->events_applied, 2u);
  EXPECT_EQ(State(store_, "a")->purchases, 1u);
  EXPECT_EQ(State(store_, "b")->events_applied, 1u);
  EXPECT_EQ(State(store_, "c")->complaints, 1u);

  EXPECT_EQ(probe_.consumed, 4u);
  EXPECT_EQ(probe_.applied[Type::kPurchase], 1);
  EXPECT_EQ(probe_.applied[Type::kContact], 2);
  EXPECT_EQ(probe_.applied[Type::kComplaint], 1);
  EXPECT_EQ(probe_.batches, 1u);
  EXPECT_EQ(probe_.committed_records, 4u);
  EXPECT_EQ(sink_.flush_calls, 0);  // nothing rejected, nothing to flush
}

TEST_F(IngestProcessorTest, LaterBatchesBuildOnTheCommittedStateAndOffsets) {
  IngestProcessor processor = MakeProcessor(&store_);
  ASSERT_TRUE(processor
                  .Process({Record(0, 0, For("a", Type::kPurchase, "1", 1)),
                            Record(1, 0, For("b", Type::kContact, "2", 1))})
                  .ok());
  ASSERT_TRUE(processor.Process({Record(0, 1, For("a", Type::kPurchase, "3", 5))}).ok());
  EXPECT_EQ(Offset(store_, 0), 2);
  EXPECT_EQ(Offset(store_, 1), 1);  // a partition absent from a batch keeps its offset
  EXPECT_EQ(State(store_, "a")->purchases, 2u);
  EXPECT_EQ(State(store_, "a")->transactions(), 2u);
  EXPECT_EQ(store_.commits(), 2);
}

TEST_F(IngestProcessorTest, StateIsReadFromTheStoreOnACacheMiss) {
  // A state committed earlier, e.g. by the partition's previous owner.
  CustomerState stored;
  ApplyTouchpoint(For("a", Type::kPurchase, "1", 1), StateLimits{}, stored);
  stored.partition = 0;
  const CustomerId id("a");
  StateBatch seed;
  seed.customers.emplace_back(&id, &stored);
  ASSERT_TRUE(store_.Commit(kTopic, seed).ok());

  IngestOptions options;
  options.cache_entries = 0;  // every batch reads the store
  IngestProcessor processor = MakeProcessor(&store_, options);
  auto result = processor.Process({Record(0, 1, For("a", Type::kPurchase, "2", 2)),
                                   Record(0, 2, For("a", Type::kPurchase, "1", 1))});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->applied, 1u);
  EXPECT_EQ(result->duplicates, 1u);  // "1" is in the stored dedup window
  EXPECT_EQ(State(store_, "a")->purchases, 2u);
  EXPECT_EQ(State(store_, "a")->events_applied, 2u);
}

TEST_F(IngestProcessorTest, DuplicatesAreSkippedWithinAndAcrossBatches) {
  IngestProcessor processor = MakeProcessor(&store_);
  auto first = processor.Process({Record(0, 0, For("a", Type::kPurchase, "1", 1)),
                                  Record(0, 1, For("a", Type::kPurchase, "1", 1)),
                                  Record(0, 2, For("b", Type::kPurchase, "1", 1))});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->applied, 2u);  // event ids are per customer: "b"'s "1" is its own
  EXPECT_EQ(first->duplicates, 1u);

  auto second = processor.Process({Record(0, 3, For("a", Type::kPurchase, "1", 1)),
                                   Record(0, 4, For("a", Type::kPurchase, "2", 2))});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->applied, 1u);
  EXPECT_EQ(second->duplicates, 1u);

  EXPECT_EQ(State(store_, "a")->purchases, 2u);
  EXPECT_EQ(State(store_, "a")->events_applied, 2u);
  EXPECT_EQ(State(store_, "b")->purchases, 1u);
  EXPECT_EQ(probe_.duplicates, 2u);
  EXPECT_EQ(probe_.applied[Type::kPurchase], 3);
  EXPECT_EQ(Offset(store_, 0), 5);  // duplicates' offsets advance too
}

// The touchpoints applied, and only those, are committed among the
// customer's recent ones, each numbered by the customer's count of
// touchpoints applied once it was.
TEST_F(IngestProcessorTest, TheTouchpointsAppliedAreCommittedAmongTheRecentOnes) {
  IngestProcessor processor = MakeProcessor(&store_);
  Touchpoint first = For("a", Type::kPurchase, "1", 1);
  first.attributes = {{"note", "not kept"}};
  const std::vector<InputRecord> batch = {
      Record(0, 0, first),
      Record(0, 1, For("a", Type::kPurchase, "1", 1)),     // a duplicate
      Record(0, 2, For("a", Type::kContact, "9", 101.5)),  // rejected: in the future
      Record(0, 3, For("b", Type::kContact, "1", 2)),
  };
  ASSERT_TRUE(processor.Process(batch).ok());
  ASSERT_TRUE(processor.Process({Record(0, 4, For("a", Type::kContact, "2", 3))}).ok());

  const std::vector<Touchpoint> recent =
      store_.RecentTouchpoints(0, CustomerId("a"), 2, kRecentTouchpoints).value();
  ASSERT_EQ(recent.size(), 2u);
  EXPECT_EQ(recent[0].event_id, "2");
  EXPECT_EQ(recent[0].type, Type::kContact);
  EXPECT_EQ(recent[1].event_id, "1");
  EXPECT_EQ(recent[1].type, Type::kPurchase);
  EXPECT_TRUE(recent[1].attributes.empty());
  EXPECT_EQ(State(store_, "a")->events_applied, 2u);
  const std::vector<Touchpoint> of_b =
      store_.RecentTouchpoints(0, CustomerId("b"), 1, kRecentTouchpoints).value();
  ASSERT_EQ(of_b.size(), 1u);
  EXPECT_EQ(of_b[0].customer_id, CustomerId("b"));
}

TEST_F(IngestProcessorTest, RejectedRecordsGoToTheSinkAreCountedAndTheirOffsetsAdvance) {
  IngestProcessor processor = MakeProcessor(&store_);
  const std::string garbage = "\x08\xff garbage";
  InputRecord wrong_key = Record(1, 8, For("a", Type::kContact, "3", 1));
  wrong_key.key = "someone-else";
  InputRecord future = Record(0, 6, For("a", Type::kContact, "9", 101.5));  // now + 1.5 days
  future.value = "future bytes";
  const std::vector<InputRecord> batch = {
      Record(0, 5, For("a", Type::kContact, "1", 1)),
      future,
      Undecodable(0, 7, "a", garbage),
      wrong_key,
  };
  auto result = processor.Process(batch);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->applied, 1u);
  ASSERT_EQ(result->rejected.size(), 3u);
  EXPECT_EQ(result->rejected[0].index, 1u);
  EXPECT_EQ(result->rejected[0].rejection.reason, RejectReason::kBadTimestamp);
  EXPECT_EQ(result->rejected[1].index, 2u);
  EXPECT_EQ(result->rejected[1].rejection.reason, RejectReason::kMalformed);
  EXPECT_EQ(result->rejected[2].index, 3u);
  EXPECT_EQ(result->rejected[2].rejection.reason, RejectReason::kKeyMismatch);

  // Sent with the original record, then flushed before the commit.
  EXPECT_TRUE(sink_.queued.empty());
  EXPECT_EQ(sink_.flush_calls, 1);
  ASSERT_EQ(sink_.flushed.size(), 3u);
  EXPECT_EQ(sink_.flushed[0].partition, 0);
  EXPECT_EQ(sink_.flushed[0].offset, 6);
  EXPECT_EQ(sink_.flushed[0].value, "future bytes");
  EXPECT_EQ(sink_.flushed[0].rejection.reason, RejectReason::kBadTimestamp);
  EXPECT_FALSE(sink_.flushed[0].rejection.detail().empty());
  EXPECT_EQ(sink_.flushed[1].offset, 7);
  EXPECT_EQ(sink_.flushed[1].key, "a");
  EXPECT_EQ(sink_.flushed[1].value, garbage);
  EXPECT_EQ(sink_.flushed[1].rejection.reason, RejectReason::kMalformed);
  EXPECT_EQ(sink_.flushed[1].rejection.detail(), "not protobuf nor JSON");
  EXPECT_EQ(sink_.flushed[2].partition, 1);
  EXPECT_EQ(sink_.flushed[2].offset, 8);
  EXPECT_EQ(sink_.flushed[2].key, "someone-else");
  EXPECT_EQ(sink_.flushed[2].rejection.reason, RejectReason::kKeyMismatch);

  EXPECT_EQ(probe_.rejected[RejectReason::kBadTimestamp], 1);
  EXPECT_EQ(probe_.rejected[RejectReason::kMalformed], 1);
  EXPECT_EQ(probe_.rejected[RejectReason::kKeyMismatch], 1);
  EXPECT_EQ(probe_.rejected_total(), 3);
  EXPECT_EQ(probe_.applied_total(), 1);
  EXPECT_EQ(probe_.consumed, 4u);

  EXPECT_EQ(Offset(store_, 0), 8);
  EXPECT_EQ(Offset(store_, 1), 9);
  EXPECT_EQ(State(store_, "a")->events_applied, 1u);  // only the valid one
}

TEST_F(IngestProcessorTest, ABatchOfRejectsOnlyStillAdvancesItsOffsets) {
  IngestProcessor processor = MakeProcessor(&store_);
  auto result = processor.Process({Undecodable(3, 41, "k", "x"), Undecodable(3, 42, "k", "y")});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->rejected.size(), 2u);
  EXPECT_EQ(sink_.flushed.size(), 2u);
  EXPECT_EQ(Offset(store_, 3), 43);
  EXPECT_TRUE(store_.states().empty());
}

// A record the sink passes over (refused for itself even in its minimal
// form) is counted and its offset advances like any other rejection's.
TEST_F(IngestProcessorTest, ARejectTheSinkPassesOverIsCountedAndItsOffsetAdvances) {
  IngestProcessor processor = MakeProcessor(&store_);
  sink_.pass_over = 1;
  auto result = processor.Process(
      {Undecodable(2, 10, "k", "x"), Record(2, 11, For("a", Type::kContact, "1", 1))});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(probe_.dead_letter_failures, 1u);
  EXPECT_EQ(Offset(store_, 2), 12);
  EXPECT_EQ(State(store_, "a")->events_applied, 1u);
}

// A touchpoint that would take its customer's state past max_state_bytes is
// rejected (state_too_large, to the sink, counted), the stored state stays as
// it was, and the offset moves on.
TEST_F(IngestProcessorTest, ATouchpointPastTheStateCapIsRejectedAndTheStateStaysAsItWas) {
  IngestOptions options;
  options.limits.max_state_bytes = 8 * 1024;
  IngestProcessor processor = MakeProcessor(&store_, options);
  Touchpoint profile = For("a", Type::kProfile, "p1", 1);
  profile.attributes = {{"note", std::string(1000, 'n')}, {"city", "Lyon"}};
  ASSERT_TRUE(processor.Process({Record(0, 0, profile)}).ok());
  const CustomerState before = *State(store_, "a");

  Touchpoint big = For("a", Type::kProfile, "p2", 2);
  for (int i = 0; i < 8; ++i) big.attributes["f" + std::to_string(i)] = std::string(1000, 'v');
  auto result =
      processor.Process({Record(0, 1, big), Record(0, 2, For("b", Type::kContact, "c", 2))});
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->rejected.size(), 1u);
  EXPECT_EQ(result->rejected[0].index, 0u);
  EXPECT_EQ(result->rejected[0].rejection.reason, RejectReason::kStateTooLarge);
  EXPECT_EQ(RejectReasonName(RejectReason::kStateTooLarge), "state_too_large");
  EXPECT_EQ(probe_.rejected[RejectReason::kStateTooLarge], 1);
  ASSERT_EQ(sink_.flushed.size(), 1u);
  EXPECT_EQ(sink_.flushed[0].offset, 1);
  EXPECT_EQ(result->applied, 1u);  // "b"'s
  EXPECT_EQ(Offset(store_, 0), 3);
  testing::ExpectSameState(before, *State(store_, "a"));
  EXPECT_EQ(State(store_, "a")->profile.size(), 2u);

  // A new customer whose first touchpoint is too large is not created.
  Touchpoint first = big;
  first.customer_id = CustomerId("new");
  result = processor.Process({Record(0, 3, first)});
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->rejected.size(), 1u);
  EXPECT_EQ(result->rejected[0].rejection.reason, RejectReason::kStateTooLarge);
  EXPECT_FALSE(State(store_, "new").has_value());
  EXPECT_EQ(Offset(store_, 0), 4);
}

TEST_F(IngestProcessorTest, WithoutASinkRejectsAreOnlyCounted) {
  IngestProcessor processor(IngestOptions{}, &store_, &clock_, &probe_,
                            {.rejects = CountRejects{}});
  auto result = processor.Process(
      {Undecodable(0, 0, "a", "x"), Record(0, 1, For("a", Type::kContact, "1", 1))});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->rejected.size(), 1u);
  EXPECT_EQ(probe_.rejected[RejectReason::kMalformed], 1);
  EXPECT_EQ(Offset(store_, 0), 2);
}

TEST_F(IngestProcessorTest, ValidationMeasuresTheFutureAgainstTheInjectedClock) {
  IngestProcessor processor = MakeProcessor(&store_);
  const Touchpoint tomorrow = For("a", Type::kContact, "1", 100.5);  // clock at day 100
  ASSERT_EQ(processor.Process({Record(0, 0, tomorrow)})->applied, 1u);

  clock_.Set(Day(50));  // the same event is now 50.5 days ahead
  auto result = processor.Process({Record(0, 1, For("a", Type::kContact, "2", 100.5))});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->applied, 0u);
  ASSERT_EQ(result->rejected.size(), 1u);
  EXPECT_EQ(result->rejected[0].rejection.reason, RejectReason::kBadTimestamp);
}

// A failed commit advances nothing; processing the batch again afterwards
// gives exactly the state of one clean pass.
TEST_F(IngestProcessorTest, AFailedCommitLeavesTheStoreUnchangedAndIsReplayedToTheSameState) {
  const std::vector<std::vector<InputRecord>> batches = {
      {Record(0, 0, For("a", Type::kPurchase, "1", 1)),
       Record(1, 0, For("b", Type::kComplaint, "2", 2))},
      // Touches the customers of the first batch, now in the processor's cache.
      {Record(0, 1, For("a", Type::kPurchase, "3", 3)),
       Record(1, 1, For("b", Type::kSurvey, "4", 4)),
       Record(0, 2, For("c", Type::kContact, "5", 4)),
       Record(0, 3, For("a", Type::kPurchase, "3", 3))},  // a duplicate within the batch
      {Record(0, 4, For("a", Type::kReturn, "6", 5))},
  };
  MemoryStateStore clean;
  {
    IngestProcessor processor = MakeProcessor(&clean);
    for (const auto& batch : batches) ASSERT_TRUE(processor.Process(batch).ok());
  }

  MemoryStateStore inner;
  FaultyStateStore faulty(&inner, /*fail_commit=*/2);
  IngestProcessor processor = MakeProcessor(&faulty);
  ASSERT_TRUE(processor.Process(batches[0]).ok());
  const std::uint64_t batches_before = probe_.batches;
  const auto states_before = inner.states();
  const auto offsets_before = inner.offsets();

  auto failed = processor.Process(batches[1]);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(faulty.attempts(), 2);
  // The failed batch left no trace in the store.
  EXPECT_EQ(inner.commits(), 1);
  EXPECT_EQ(inner.offsets(), offsets_before);
  ASSERT_EQ(inner.states().size(), states_before.size());
  for (const auto& [id, state] : states_before) {
    SCOPED_TRACE(id.value());
    ExpectSameState(state, inner.states().at(id));
  }
  EXPECT_EQ(probe_.batches, batches_before);  // not reported as committed

  // The consumer resumes from the committed offsets: the same batch again.
  auto replayed = processor.Process(batches[1]);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_EQ(replayed->applied, 3u);  // none taken for a duplicate of the failed attempt
  EXPECT_EQ(replayed->duplicates, 1u);
  ASSERT_TRUE(processor.Process(batches[2]).ok());
  ExpectSameStore(clean, inner);
}

TEST_F(IngestProcessorTest, AFailedSinkFlushPreventsTheCommit) {
  IngestProcessor processor = MakeProcessor(&store_);
  ASSERT_TRUE(processor.Process({Record(0, 0, For("a", Type::kContact, "1", 1))}).ok());
  const std::vector<InputRecord> batch = {Undecodable(0, 1, "a", "garbage"),
                                          Record(0, 2, For("a", Type::kPurchase, "2", 2))};
  sink_.fail_flush = true;
  auto failed = processor.Process(batch);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store_.commits(), 1);
  EXPECT_EQ(Offset(store_, 0), 1);
  EXPECT_EQ(State(store_, "a")->purchases, 0u);
  EXPECT_TRUE(sink_.flushed.empty());

  // Once the sink recovers, the replayed batch is applied once; the reject is
  // sent again (at least once to the dead-letter topic).
  sink_.fail_flush = false;
  auto replayed = processor.Process(batch);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_EQ(replayed->applied, 1u);
  EXPECT_EQ(replayed->duplicates, 0u);
  ASSERT_EQ(sink_.flushed.size(), 2u);
  EXPECT_EQ(sink_.flushed[1].offset, 1);
  EXPECT_EQ(Offset(store_, 0), 3);
  EXPECT_EQ(State(store_, "a")->purchases, 1u);
  EXPECT_EQ(State(store_, "a")->events_applied, 2u);
}

// --- Population ----------------------------------------------------------------

constexpr std::array<PopulationAxis, kPopulationAxisCount> kAxes = {
    PopulationAxis::kLastPurchaseDay, PopulationAxis::kFrequency, PopulationAxis::kMonetary,
    PopulationAxis::kProductTypes, PopulationAxis::kRevenue};

// Everything a scorer can read from a view, on a grid of values per axis.
struct ViewReadings {
  std::int64_t customers = 0;
  std::vector<double> ranks;
  std::vector<Segment> segments;
  friend bool operator==(const ViewReadings&, const ViewReadings&) = default;
};
ViewReadings Read(const PopulationView& view) {
  ViewReadings r;
  r.customers = view.customers();
  const double day0 = DayNumber(Day(0));
  for (PopulationAxis axis : kAxes) {
    for (double v : {-10.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0}) {
      r.ranks.push_back(view.Rank(axis, v));
    }
    for (double d = day0 - 1; d <= day0 + 10; ++d) r.ranks.push_back(view.Rank(axis, d));
  }
  for (double revenue : {-10.0, 0.0, 5.0, 10.0, 20.0, 30.0, 40.0}) {
    r.segments.push_back(view.AbcSegment(revenue));
  }
  return r;
}

std::vector<PopulationCell> Cells(StateStore& store) {
  auto cells = store.LoadPopulation(kTopic);
  EXPECT_TRUE(cells.ok()) << cells.status();
  return cells.ok() ? *cells : std::vector<PopulationCell>{};
}

TEST_F(IngestProcessorTest, ACommittedBatchPublishesThePopulationOfItsBuyers) {
  PopulationBoard board;
  IngestProcessor processor(
      IngestOptions{}, &store_, &clock_, &probe_,
      {.rejects = DeadLetters{&sink_}, .population = PublishedPopulation{&board}});
  ASSERT_TRUE(processor.Load().ok());
  EXPECT_EQ(board.Current()->customers(), 0);
  EXPECT_TRUE(Cells(store_).empty());

  auto result = processor.Process({Record(0, 0, For("a", Type::kPurchase, "1", 1)),
                                   Record(1, 0, For("b", Type::kPurchase, "2", 1)),
                                   Record(1, 1, For("b", Type::kPurchase, "3", 2)),
                                   Record(0, 1, For("c", Type::kContact, "4", 2)),
                                   Record(0, 2, For("d", Type::kReturn, "5", 2))});
  ASSERT_TRUE(result.ok()) << result.status();
  const auto view = board.Current();
  EXPECT_EQ(view->customers(), 2);  // a and b; c and d never bought
  EXPECT_DOUBLE_EQ(view->Rank(PopulationAxis::kFrequency, 1), 0.25);
  EXPECT_DOUBLE_EQ(view->Rank(PopulationAxis::kFrequency, 2), 0.75);
  EXPECT_DOUBLE_EQ(view->Rank(PopulationAxis::kRevenue, 20), 0.75);
  EXPECT_DOUBLE_EQ(view->Rank(PopulationAxis::kLastPurchaseDay, DayNumber(Day(2))), 0.75);
  EXPECT_EQ(view->Score(PopulationAxis::kFrequency, 2), 4);

  // The store holds the cells, per partition, in the same commit.
  const std::vector<PopulationCell> cells = Cells(store_);
  EXPECT_EQ(cells.size(), 2u * kPopulationAxisCount);
  std::int64_t frequency_count = 0;
  for (const PopulationCell& cell : cells) {
    EXPECT_GT(cell.count, 0);
    if (cell.axis == PopulationAxis::kFrequency) {
      frequency_count += cell.count;
      EXPECT_EQ(cell.partition, cell.bucket == 1 ? 0 : 1);  // a on 0 with 1, b on 1 with 2
    }
  }
  EXPECT_EQ(frequency_count, 2);
  Population restored;
  for (const PopulationCell& cell : cells) restored.Restore(cell);
  EXPECT_EQ(Read(*restored.View()), Read(*view));

  // A later batch moves b (frequency 2 → 3) without adding a customer.
  ASSERT_TRUE(processor.Process({Record(1, 2, For("b", Type::kPurchase, "6", 3))}).ok());
  const auto moved = board.Current();
  EXPECT_EQ(moved->customers(), 2);
  EXPECT_DOUBLE_EQ(moved->Rank(PopulationAxis::kFrequency, 2), 0.5);  // now nobody has 2
  EXPECT_DOUBLE_EQ(moved->Rank(PopulationAxis::kFrequency, 3), 0.75);
  EXPECT_DOUBLE_EQ(view->Rank(PopulationAxis::kFrequency, 2), 0.75);  // the old view stands

  // A new processor on the same store (a restart) publishes the same view.
  PopulationBoard reloaded;
  IngestProcessor restarted(
      IngestOptions{}, &store_, &clock_, &probe_,
      {.rejects = DeadLetters{&sink_}, .population = PublishedPopulation{&reloaded}});
  EXPECT_EQ(reloaded.Current()->customers(), 0);
  ASSERT_TRUE(restarted.Load().ok());
  EXPECT_EQ(Read(*reloaded.Current()), Read(*moved));
  // …and builds on it: c's first purchase makes three buyers for both.
  const std::vector<InputRecord> next = {Record(0, 3, For("c", Type::kPurchase, "7", 4))};
  ASSERT_TRUE(restarted.Process(next).ok());
  EXPECT_EQ(reloaded.Current()->customers(), 3);
  Population from_store;
  for (const PopulationCell& cell : Cells(store_)) from_store.Restore(cell);
  EXPECT_EQ(Read(*from_store.View()), Read(*reloaded.Current()));
}

TEST_F(IngestProcessorTest, AFailedCommitLeavesThePopulationAsCommitted) {
  const std::vector<std::vector<InputRecord>> batches = {
      {Record(0, 0, For("a", Type::kPurchase, "1", 1)),
       Record(1, 0, For("b", Type::kPurchase, "2", 2))},
      // New buyer c, a moves, b returns: every kind of change.
      {Record(0, 1, For("a", Type::kPurchase, "3", 3)),
       Record(1, 1, For("b", Type::kReturn, "4", 4)),
       Record(0, 2, For("c", Type::kPurchase, "5", 4)),
       Record(0, 3, For("c", Type::kPurchase, "6", 5))},
      {Record(0, 4, For("a", Type::kPurchase, "7", 6)),
       Record(1, 2, For("d", Type::kPurchase, "8", 6))},
  };
  MemoryStateStore clean;
  PopulationBoard clean_board;
  {
    IngestProcessor processor(
        IngestOptions{}, &clean, &clock_, &probe_,
        {.rejects = DeadLetters{&sink_}, .population = PublishedPopulation{&clean_board}});
    ASSERT_TRUE(processor.Load().ok());
    for (const auto& batch : batches) ASSERT_TRUE(processor.Process(batch).ok());
  }
  ASSERT_EQ(clean_board.Current()->customers(), 4);

  MemoryStateStore inner;
  FaultyStateStore faulty(&inner, /*fail_commit=*/2);
  PopulationBoard board;
  IngestProcessor processor(
      IngestOptions{}, &faulty, &clock_, &probe_,
      {.rejects = DeadLetters{&sink_}, .population = PublishedPopulation{&board}});
  ASSERT_TRUE(processor.Load().ok());
  ASSERT_TRUE(processor.Process(batches[0]).ok());
  const auto committed = board.Current();
  const ViewReadings committed_readings = Read(*committed);
  const std::vector<PopulationCell> committed_cells = Cells(inner);
  EXPECT_EQ(committed->customers(), 2);

  ASSERT_FALSE(processor.Process(batches[1]).ok());
  EXPECT_EQ(board.Current(), committed);  // nothing published
  EXPECT_EQ(Read(*board.Current()), committed_readings);
  EXPECT_EQ(Cells(inner), committed_cells);  // nothing stored

  // Replayed from the committed offsets: the population of one clean pass.
  ASSERT_TRUE(processor.Process(batches[1]).ok());
  ASSERT_TRUE(processor.Process(batches[2]).ok());
  EXPECT_EQ(Read(*board.Current()), Read(*clean_board.Current()));
  EXPECT_EQ(Cells(inner), Cells(clean));
  ExpectSameStore(clean, inner);
}

// --clock event: "now" is the latest event time applied, committed with the
// batch, restored on restart; rejected records and failed commits do not move it.
TEST_F(IngestProcessorTest, TheEventClockFollowsTheLatestAppliedEventTime) {
  EventClock event_clock;
  EXPECT_EQ(event_clock.Now(), FromMicros(0));  // the epoch until an event
  MemoryStateStore inner;
  FaultyStateStore faulty(&inner, /*fail_commit=*/2);
  IngestProcessor processor(
      IngestOptions{}, &faulty, &clock_, &probe_,
      {.rejects = DeadLetters{&sink_}, .event_clock = FeedEventClock{&event_clock}});
  ASSERT_TRUE(processor.Load().ok());
  EXPECT_EQ(event_clock.Now(), FromMicros(0));

  Touchpoint too_late = For("b", Type::kContact, "3", 150);  // past wall now + 1 day: rejected
  ASSERT_TRUE(processor
                  .Process({Record(0, 0, For("a", Type::kContact, "1", 40)),
                            Record(0, 1, For("a", Type::kPurchase, "2", 30)),  // late event
                            Record(1, 0, std::move(too_late))})
                  .ok());
  EXPECT_EQ(event_clock.Now(), Day(40));
  EXPECT_EQ(inner.LoadLatestEventTime(kTopic).value(), Day(40));

  // The second commit fails: the clock stays where the committed state is.
  EXPECT_FALSE(processor.Process({Record(0, 2, For("a", Type::kContact, "4", 60))}).ok());
  EXPECT_EQ(event_clock.Now(), Day(40));
  EXPECT_EQ(inner.LoadLatestEventTime(kTopic).value(), Day(40));

  // An earlier event does not move it back; a later one does.
  ASSERT_TRUE(processor.Process({Record(0, 2, For("a", Type::kContact, "5", 20))}).ok());
  EXPECT_EQ(event_clock.Now(), Day(40));
  ASSERT_TRUE(processor.Process({Record(0, 3, For("a", Type::kContact, "6", 55))}).ok());
  EXPECT_EQ(event_clock.Now(), Day(55));

  // A restart on the same store starts from the committed latest time.
  EventClock restarted_clock;
  IngestProcessor restarted(
      IngestOptions{}, &inner, &clock_, &probe_,
      {.rejects = DeadLetters{&sink_}, .event_clock = FeedEventClock{&restarted_clock}});
  ASSERT_TRUE(restarted.Load().ok());
  EXPECT_EQ(restarted_clock.Now(), Day(55));
}

TEST(EventClockTest, KeepsTheLatestTimeObservedFromManyThreads) {
  EventClock clock;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&clock, t] {
      for (int i = 0; i < 10'000; ++i) clock.Observe(FromMicros(i * 4 + t));
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(clock.Now(), FromMicros(39'999));
  clock.Observe(FromMicros(5));
  EXPECT_EQ(clock.Now(), FromMicros(39'999));
}

}  // namespace
}  // namespace ingest_test
}  // namespace crm
