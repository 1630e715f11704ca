#include "core/ingest_processor.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "core/clock.h"
#include "core/customer_state.h"
#include "core/population.h"
#include "core/touchpoint.h"
#include "core/validation.h"
#include "tests/core/expect_same_state.h"
#include "tests/core/test_touchpoints.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/memory_changelog.h"
#include "tests/fakes/memory_state_store.h"
#include "tests/fakes/recording_audit_log.h"
#include "tests/fakes/recording_probe.h"
#include "tests/fakes/recording_reject_sink.h"

namespace crm {
namespace {

using testing::Day;
using testing::ExpectSameState;
using testing::FakeClock;
using testing::FaultyStateStore;
using testing::MakeTouchpoint;
using testing::MemoryStateStore;
using testing::RecordingAuditLog;
using testing::RecordingProbe;
using testing::RecordingRejectSink;
using Type = TouchpointType;

constexpr char kTopic[] = "crm.touchpoints";  // IngestOptions' default

// Every committed state and offset of `got` equals those of `want`.
void ExpectSameStore(const MemoryStateStore& want, const MemoryStateStore& got) {
  EXPECT_EQ(got.offsets(), want.offsets());
  const auto want_states = want.states();
  const auto got_states = got.states();
  ASSERT_EQ(got_states.size(), want_states.size());
  for (const auto& [id, state] : want_states) {
    SCOPED_TRACE(id.value());
    auto it = got_states.find(id);
    ASSERT_NE(it, got_states.end());
    ExpectSameState(state, it->second);
  }
}

Touchpoint For(const std::string& customer, Type type, const std::string& event_id, double day) {
  Touchpoint tp = MakeTouchpoint(type, event_id, day);
  tp.customer_id = CustomerId(customer);
  return tp;
}

InputRecord Record(std::int32_t partition, std::int64_t offset, Touchpoint tp) {
  InputRecord record;
  record.partition = partition;
  record.offset = offset;
  record.key = tp.customer_id.value();
  record.value = "original bytes";
  record.payload = std::move(tp);
  return record;
}

InputRecord Undecodable(std::int32_t partition, std::int64_t offset, std::string key,
                        std::string_view value) {
  InputRecord record;
  record.partition = partition;
  record.offset = offset;
  record.key = std::move(key);
  record.value = value;
  record.payload = Rejection{RejectReason::kMalformed, "not protobuf nor JSON"};
  return record;
}

class IngestProcessorTest : public ::testing::Test {
 protected:
  IngestProcessor MakeProcessor(StateStore* store, IngestOptions options = IngestOptions{}) {
    return IngestProcessor(std::move(options), store, &clock_, &probe_, &sink_);
  }
  static std::optional<std::int64_t> Offset(StateStore& store, std::int32_t partition) {
    auto offset = store.GetOffset(kTopic, partition);
    EXPECT_TRUE(offset.ok()) << offset.status();
    return offset.ok() ? *offset : std::nullopt;
  }
  static std::optional<CustomerState> State(StateStore& store, const std::string& customer) {
    auto state = store.Find(CustomerId(customer));
    EXPECT_TRUE(state.ok()) << state.status();
    return state.ok() ? *state : std::nullopt;
  }

  FakeClock clock_{Day(100)};
  RecordingProbe probe_;
  RecordingRejectSink sink_;
  MemoryStateStore store_;
};

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
  IngestProcessor processor(IngestOptions{}, &store_, &clock_, &probe_, /*rejects=*/nullptr);
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
  std::vector<std::string> segments;
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
  IngestProcessor processor(IngestOptions{}, &store_, &clock_, &probe_, &sink_, &board);
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
  IngestProcessor restarted(IngestOptions{}, &store_, &clock_, &probe_, &sink_, &reloaded);
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
    IngestProcessor processor(IngestOptions{}, &clean, &clock_, &probe_, &sink_, &clean_board);
    ASSERT_TRUE(processor.Load().ok());
    for (const auto& batch : batches) ASSERT_TRUE(processor.Process(batch).ok());
  }
  ASSERT_EQ(clean_board.Current()->customers(), 4);

  MemoryStateStore inner;
  FaultyStateStore faulty(&inner, /*fail_commit=*/2);
  PopulationBoard board;
  IngestProcessor processor(IngestOptions{}, &faulty, &clock_, &probe_, &sink_, &board);
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

}  // namespace
}  // namespace crm

namespace crm {
namespace {

// --clock event: "now" is the latest event time applied, committed with the
// batch, restored on restart; rejected records and failed commits do not move it.
TEST_F(IngestProcessorTest, TheEventClockFollowsTheLatestAppliedEventTime) {
  EventClock event_clock;
  EXPECT_EQ(event_clock.Now(), FromMicros(0));  // the epoch until an event
  MemoryStateStore inner;
  FaultyStateStore faulty(&inner, /*fail_commit=*/2);
  IngestProcessor processor(IngestOptions{}, &faulty, &clock_, &probe_, &sink_, nullptr,
                            &event_clock);
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
  IngestProcessor restarted(IngestOptions{}, &inner, &clock_, &probe_, &sink_, nullptr,
                            &restarted_clock);
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
}  // namespace crm

namespace crm {
namespace {

// Alerts on the built-in model, on the event clock unless told otherwise.
class IngestAlertsTest : public IngestProcessorTest {
 protected:
  IngestAlertsTest() : scorers_(std::make_shared<const Scorer>(Model{})) {}

  void Enable(IngestProcessor& processor, const Clock* wall = nullptr) {
    processor.EnableAlerts({.scorers = &scorers_, .policy = &policy_, .clock = wall});
  }
  // A processor on `store` with alerts on the event clock, loaded, the wall
  // clock (which only bounds validation here) at day 1000.
  IngestProcessor Started(StateStore* store) {
    clock_.Set(Day(1000));
    IngestProcessor processor = MakeProcessor(store);
    Enable(processor);
    EXPECT_TRUE(processor.Load().ok());
    return processor;
  }
  // A processor on `store` with alerts on the wall clock, loaded, at `now`.
  IngestProcessor OnTheWallClock(StateStore* store, Timestamp now) {
    clock_.Set(now);
    IngestProcessor processor = MakeProcessor(store);
    Enable(processor, &clock_);
    EXPECT_TRUE(processor.Load().ok());
    return processor;
  }
  // `customer` bought every 14 days, days 0 to 266, on `partition`.
  static std::vector<InputRecord> SteadyBuyer(const std::string& customer, std::int64_t& offset,
                                              std::int32_t partition = 0) {
    std::vector<InputRecord> records;
    for (int i = 0; i < 20; ++i) {
      records.push_back(
          Record(partition, offset++,
                 For(customer, Type::kPurchase, customer + std::to_string(i), 14 * i)));
    }
    return records;
  }

  Board<Scorer> scorers_;
  AlertPolicy policy_;
};

TEST_F(IngestAlertsTest, ASilentSteadyBuyerIsAlertedOnceWithNoEventOfTheirOwn) {
  IngestProcessor processor = Started(&store_);
  std::int64_t offset = 0;
  auto first = processor.Process(SteadyBuyer("steady", offset));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->alerts.empty());  // right after a purchase: not at risk
  const CustomerState stored = *store_.Find(CustomerId("steady")).value();
  ASSERT_TRUE(stored.alert.next_evaluation);
  const Timestamp next = *stored.alert.next_evaluation;
  EXPECT_GT(next, Day(266));
  // The time index holds the look, under the customer's partition.
  EXPECT_EQ(
      store_.due(),
      (std::map<std::int32_t, std::set<DueEntry>>{{0, {DueEntry{next, CustomerId("steady")}}}}));
  // The wall clock's scheduler does nothing on the event clock.
  auto idle = processor.RescoreDue(100);
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ(idle->rescored, 0u);

  // Someone else's touchpoints on the same partition move its time on, past
  // looks (churn rising) and then past the raise threshold.
  std::vector<InputRecord> ticker;
  for (int day = 267; day <= 500; day += 3) {
    ticker.push_back(
        Record(0, offset++, For("other", Type::kContact, "o" + std::to_string(day), day)));
  }
  const std::size_t looks_before = probe_.rescored;
  auto moved = processor.Process(ticker);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_GE(moved->rescored, 2u);  // looks as churn moved, then the crossing
  ASSERT_EQ(moved->alerts.size(), 1u);
  const AlertEvent& alert = moved->alerts.front();
  EXPECT_EQ(alert.customer_id, CustomerId("steady"));
  EXPECT_EQ(alert.outcome.transition, AlertTransition::kRaised);
  EXPECT_EQ(alert.outcome.alert_id, AlertId(CustomerId("steady"), 1));
  EXPECT_GE(alert.churn, policy_.defaults.raise);
  EXPECT_LT(alert.outcome.previous_churn, policy_.defaults.raise);
  EXPECT_FALSE(alert.reasons.empty());
  EXPECT_EQ(alert.channel, Channel::kUnspecified);  // never consented: not for marketing
  // Raised as of the moment it was due, which the partition's time passed.
  const CustomerState alerted = *store_.Find(CustomerId("steady")).value();
  EXPECT_TRUE(alerted.alert.open);
  EXPECT_EQ(alerted.alert.raised_at, alert.at);
  EXPECT_GT(alert.at, Day(266 + 14));
  EXPECT_LE(alert.at, Day(500));
  EXPECT_EQ(probe_.alerts_raised, std::vector<std::string>{alert.action + "/" + alert.segment});
  EXPECT_TRUE(probe_.alerts_cleared.empty());
  EXPECT_EQ(probe_.rescored - looks_before, moved->rescored);
  // Every look's churn went to the probe: one per purchase and the due ones
  // between them, then the due ones the ticker passed (a prospect's
  // touchpoints take none), the crossing's among them.
  ASSERT_EQ(probe_.looked.size(), 20 + first->rescored + moved->rescored);
  EXPECT_NE(std::find(probe_.looked.begin(), probe_.looked.end(), alert.churn),
            probe_.looked.end());
  EXPECT_EQ(probe_.open_alerts, (std::map<std::int32_t, std::uint64_t>{{0, 1}}));
  EXPECT_EQ(store_.partitions().at({kTopic, 0}).open_alerts, 1u);
  EXPECT_EQ(store_.partitions().at({kTopic, 0}).watermark, Day(498));  // the last ticker's
  // The other customer is a prospect: never alerted, never scheduled, never ranked.
  EXPECT_EQ(store_.Find(CustomerId("other")).value()->alert, AlertState{});
  EXPECT_EQ(store_.risk(),
            (std::vector<RiskEntry>{{*alerted.alert.indexed_churn, CustomerId("steady")}}));

  // The raised alert waits in the outbox, committed with the state, until acknowledged.
  auto pending = store_.PendingAlerts(10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ(pending->front().first, 0u);
  EXPECT_EQ(pending->front().second.outcome.alert_id, alert.outcome.alert_id);
  EXPECT_EQ(store_.LastPendingAlert().value(), std::optional<std::uint64_t>(0));
  ASSERT_TRUE(store_.AckAlerts(0).ok());
  EXPECT_TRUE(store_.PendingAlerts(10).value().empty());
  EXPECT_EQ(store_.LastPendingAlert().value(), std::nullopt);
}

TEST_F(IngestAlertsTest, AnotherPartitionsTimeDoesNotMoveThisOnesLooks) {
  IngestProcessor processor = Started(&store_);
  std::int64_t offset = 0;
  ASSERT_TRUE(processor.Process(SteadyBuyer("steady", offset, /*partition=*/0)).ok());
  auto other = processor.Process({Record(1, 0, For("other", Type::kContact, "o1", 900))});
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->alerts.empty());
  EXPECT_EQ(other->rescored, 0u);
  // Partition 0's own time does.
  auto own = processor.Process({Record(0, offset, For("other0", Type::kContact, "p1", 900))});
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(own->alerts.size(), 1u);
}

TEST_F(IngestAlertsTest, AFailedCommitRaisesNothingAndTheReplayRaisesTheSameAlertOnce) {
  MemoryStateStore inner;
  FaultyStateStore faulty(&inner, /*fail_commit=*/2);  // the commit that raises it
  IngestProcessor processor = Started(&faulty);
  std::int64_t offset = 0;
  ASSERT_TRUE(processor.Process(SteadyBuyer("steady", offset)).ok());
  const std::vector<InputRecord> ticker = {
      Record(0, offset, For("other", Type::kContact, "o1", 900))};
  EXPECT_FALSE(processor.Process(ticker).ok());
  EXPECT_FALSE(inner.Find(CustomerId("steady")).value()->alert.open);
  EXPECT_TRUE(inner.PendingAlerts(10).value().empty());

  // A fresh processor on the committed store (as after a crash) replays the
  // record from the committed offset and raises the same alert, once.
  ASSERT_EQ(inner.GetOffset(kTopic, 0).value(), std::optional<std::int64_t>(offset));
  IngestProcessor restarted = Started(&inner);
  auto replayed = restarted.Process(ticker);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  ASSERT_EQ(replayed->alerts.size(), 1u);
  EXPECT_EQ(replayed->alerts.front().outcome.alert_id, AlertId(CustomerId("steady"), 1));
  auto pending = inner.PendingAlerts(10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ(pending->front().second.outcome.alert_id, AlertId(CustomerId("steady"), 1));
}

// A silent steady buyer's churn crosses 0.7 around day 325; a contact on day
// 330 brings it from about 0.78 down to 0.56, and silence raises it above 0.7
// again by day 336: it hovers around the raise threshold.
TEST_F(IngestAlertsTest, HoveringAroundTheThresholdRaisesOnceUntilItClears) {
  const auto raised_and_cleared = [&](double clear) {
    MemoryStateStore store;
    policy_.defaults.clear = clear;
    policy_.defaults.cooldown = Micros(0);
    IngestProcessor processor = Started(&store);
    std::int64_t offset = 0;
    std::vector<InputRecord> records = SteadyBuyer("steady", offset);
    for (int day = 267; day <= 420; ++day) {  // time moves on, one day at a time
      records.push_back(
          Record(0, offset++, For("other", Type::kContact, "o" + std::to_string(day), day)));
      if (day == 330)
        records.push_back(Record(0, offset++, For("steady", Type::kContact, "c", day)));
    }
    records.push_back(Record(0, offset++, For("steady", Type::kPurchase, "back", 421)));
    auto result = processor.Process(records);
    EXPECT_TRUE(result.ok()) << result.status();
    std::pair<int, int> counts;
    for (const AlertEvent& alert : result->alerts) {
      (alert.outcome.transition == AlertTransition::kRaised ? counts.first : counts.second)++;
    }
    return counts;
  };
  // With the clear threshold above the dip, the contact clears the alert and
  // silence raises another: the trajectory does hover.
  EXPECT_EQ(raised_and_cleared(0.6), std::make_pair(2, 2));
  // Below it (the default 0.5), one alert, cleared once the customer buys again.
  EXPECT_EQ(raised_and_cleared(0.5), std::make_pair(1, 1));
}

TEST_F(IngestAlertsTest, AnOptOutIsNeverRecommendedAndAllOutIsNotForMarketing) {
  IngestProcessor processor = Started(&store_);
  std::int64_t offset = 0;
  const auto consent = [&](const std::string& customer, Channel channel, bool granted, double day) {
    Touchpoint tp = MakeTouchpoint(
        Type::kConsent,
        customer + "-consent-" + std::string(ChannelName(channel)) + std::to_string(day), day,
        channel);
    tp.customer_id = CustomerId(customer);
    tp.consent_granted = granted;
    return Record(0, offset++, tp);
  };
  std::vector<InputRecord> records = SteadyBuyer("some", offset);
  std::vector<InputRecord> none = SteadyBuyer("none", offset);
  records.insert(records.end(), none.begin(), none.end());
  for (const std::string customer : {"some", "none"}) {
    records.push_back(consent(customer, Channel::kEmail, true, 10));
    records.push_back(consent(customer, Channel::kSms, true, 10));
    records.push_back(consent(customer, Channel::kEmail, false, 200));  // out
  }
  records.push_back(consent("none", Channel::kSms, false, 201));  // all out
  records.push_back(Record(0, offset++, For("ticker", Type::kContact, "t", 700)));
  auto result = processor.Process(records);
  ASSERT_TRUE(result.ok()) << result.status();
  std::map<std::string, Channel> channel;
  for (const AlertEvent& alert : result->alerts) channel[alert.customer_id.value()] = alert.channel;
  ASSERT_EQ(channel.size(), 2u);
  EXPECT_EQ(channel.at("some"), Channel::kSms);  // e-mail is cheaper, but they opted out
  EXPECT_EQ(channel.at("none"), Channel::kUnspecified);
}

TEST_F(IngestAlertsTest, OnTheWallClockLooksAreTakenAsOfTheirDueTimeUpToNow) {
  IngestProcessor processor = OnTheWallClock(&store_, Day(267));
  std::int64_t offset = 0;
  ASSERT_TRUE(processor.Process(SteadyBuyer("steady", offset)).ok());
  const Timestamp due = *store_.Find(CustomerId("steady")).value()->alert.next_evaluation;
  auto early = processor.RescoreDue(100);
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early->rescored, 0u);  // not due yet
  clock_.Set(Day(700));
  auto one = processor.RescoreDue(1);  // the budget: one look
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->rescored, 1u);
  const CustomerState looked = *store_.Find(CustomerId("steady")).value();
  EXPECT_EQ(looked.alert.evaluated_at, due);  // as of when it was due, not now
  auto rest = processor.RescoreDue(1000);
  ASSERT_TRUE(rest.ok());
  EXPECT_GE(rest->rescored, 1u);
  ASSERT_EQ(rest->alerts.size(), 1u);
  EXPECT_LT(rest->alerts.front().at, Day(700));
  EXPECT_GT(*store_.Find(CustomerId("steady")).value()->alert.next_evaluation, Day(700));
}

// "b" buys every 10 days but its touchpoints arrive late, behind "a"'s every
// 14 days on the same partition: by the time b's purchase of day 190 comes,
// the partition's time (266) has passed b's silence and alerted them. The late
// purchase is looked at as of b's latest look, not back in time: b stays at
// risk (silent since day 190, usually every 10), and is alerted once.
// The time index is read from where its live entries start (past the looks
// taken, which RocksDB keeps as deletions until compaction) and not at all
// while nothing is due; a commit that plans a look sooner than all the others
// moves that start back.
TEST_F(IngestAlertsTest, TheTimeIndexIsReadFromItsFirstLiveEntryAndOnlyWhenALookIsDue) {
  IngestProcessor processor = OnTheWallClock(&store_, Day(267));
  std::int64_t offset = 0;
  ASSERT_TRUE(processor.Process(SteadyBuyer("steady", offset)).ok());
  const Timestamp steady_due = *store_.Find(CustomerId("steady")).value()->alert.next_evaluation;
  ASSERT_TRUE(processor.RescoreDue(100).ok());  // reads the index: not due
  const int reads = store_.scheduled_reads();
  EXPECT_GT(reads, 0);
  for (int i = 0; i < 3; ++i) {
    auto idle = processor.RescoreDue(100);
    ASSERT_TRUE(idle.ok());
    EXPECT_EQ(idle->rescored, 0u);
  }
  EXPECT_EQ(store_.scheduled_reads(), reads);  // the first live entry is not due yet

  // A brisk buyer's next look comes before the steady one's.
  std::vector<InputRecord> brisk;
  for (int i = 0; i < 10; ++i) {
    brisk.push_back(
        Record(0, offset++, For("brisk", Type::kPurchase, "b" + std::to_string(i), 248 + 2 * i)));
  }
  ASSERT_TRUE(processor.Process(brisk).ok());
  const Timestamp brisk_due = *store_.Find(CustomerId("brisk")).value()->alert.next_evaluation;
  ASSERT_LT(brisk_due, steady_due);
  clock_.Set(brisk_due + (steady_due - brisk_due) / 2);
  auto round = processor.RescoreDue(100);
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_GE(round->rescored, 1u);  // brisk's, and those that follow before now
  const CustomerState looked = *store_.Find(CustomerId("brisk")).value();
  EXPECT_GE(looked.alert.evaluated_at, brisk_due);
  EXPECT_GT(looked.alert.next_evaluation, clock_.Now());
  EXPECT_EQ(store_.Find(CustomerId("steady")).value()->alert.next_evaluation, steady_due);
  EXPECT_GT(store_.scheduled_reads(), reads);

  // Past both, from a processor that knows nothing of the index: the same looks.
  IngestProcessor fresh = OnTheWallClock(&store_, steady_due + Days(1));
  ASSERT_TRUE(fresh.SetAssignment({0}).ok());
  auto late = fresh.RescoreDue(100);
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_GE(late->rescored, 1u);
  EXPECT_EQ(store_.Find(CustomerId("steady")).value()->alert.evaluated_at, steady_due);
}

TEST_F(IngestAlertsTest, ALateTouchpointNeverTakesALookBackInTime) {
  IngestProcessor processor = Started(&store_);
  std::int64_t offset = 0;
  std::vector<InputRecord> records;
  for (int i = 0; i < 20; ++i) {
    records.push_back(
        Record(0, offset++, For("a", Type::kPurchase, "a" + std::to_string(i), 14 * i)));
    records.push_back(
        Record(0, offset++, For("b", Type::kPurchase, "b" + std::to_string(i), 10 * i)));
  }
  for (int day = 266; day <= 500; day += 2) {
    records.push_back(
        Record(0, offset++, For("t", Type::kContact, "t" + std::to_string(day), day)));
  }
  auto result = processor.Process(records);
  ASSERT_TRUE(result.ok()) << result.status();
  std::multiset<std::string> raised;
  for (const AlertEvent& alert : result->alerts) {
    EXPECT_EQ(alert.outcome.transition, AlertTransition::kRaised) << alert.customer_id.value();
    raised.insert(alert.outcome.alert_id);
  }
  EXPECT_EQ(raised,
            (std::multiset<std::string>{AlertId(CustomerId("a"), 1), AlertId(CustomerId("b"), 1)}));
}

// The right to be forgotten: one commit removes the customer's state, index
// entries, open alert, undelivered alerts and place in the population.
TEST_F(IngestAlertsTest, AnErasureForgetsEverythingOfTheCustomerInOneCommit) {
  PopulationBoard population;
  clock_.Set(Day(1000));
  IngestProcessor processor(IngestOptions{}, &store_, &clock_, &probe_, &sink_, &population);
  Enable(processor);
  ASSERT_TRUE(processor.Load().ok());
  std::int64_t offset = 0;
  std::vector<InputRecord> records;
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
  ASSERT_EQ(store_.outbox().size(), 1u);
  EXPECT_EQ(store_.outbox().begin()->second.customer_id, CustomerId("kept"));
  EXPECT_EQ(store_.partitions().at({kTopic, 0}).open_alerts, 1u);
  EXPECT_EQ(probe_.open_alerts.at(0), 1u);
  EXPECT_EQ(population.Current()->customers(), 1);
  // The population as stored agrees: a restart ranks against the one buyer left.
  PopulationBoard reloaded;
  IngestProcessor restarted(IngestOptions{}, &store_, &clock_, &probe_, &sink_, &reloaded);
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
  IngestProcessor processor(options, &store_, &clock_, &probe_, &sink_);
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
  IngestProcessor processor(IngestOptions{}, &store_, &clock_, &probe_, &sink_);
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

// The heart of exactly-once alerts: every look, and so every alert, is a
// function of each partition's records alone. The same stream (late events
// and duplicates included) processed in one batch, in random batches with
// small commits, and with crashes (a failed commit, then a fresh processor
// replaying from the committed offsets) leaves the same states, the same
// indexes and the same alerts.
TEST_F(IngestAlertsTest, TheSameStreamGivesTheSameLooksWhateverTheBatchesAndCrashes) {
  clock_.Set(Day(2000));
  std::mt19937 random(20261201);
  // Four customers per partition, two partitions, a year and a half of
  // purchases, contacts, complaints and surveys; one in twenty late by up to
  // 30 days, one in twenty-five sent twice.
  std::map<std::int32_t, std::vector<InputRecord>> by_partition;
  std::map<std::int32_t, std::int64_t> offsets;
  const std::array<Type, 4> types = {Type::kPurchase, Type::kContact, Type::kComplaint,
                                     Type::kSurvey};
  for (int i = 0; i < 600; ++i) {
    const std::int32_t partition = static_cast<std::int32_t>(random() % 2);
    const std::string customer = "c" + std::to_string(partition) + std::to_string(random() % 4);
    double day = i * 0.9;
    if (random() % 20 == 0) day -= static_cast<double>(random() % 30);
    const Type type = random() % 3 == 0 ? Type::kPurchase : types[random() % types.size()];
    InputRecord record = Record(partition, offsets[partition]++,
                                For(customer, type, "e" + std::to_string(i), std::max(0.0, day)));
    by_partition[partition].push_back(record);
    if (random() % 25 == 0) {
      record.offset = offsets[partition]++;
      by_partition[partition].push_back(record);
    }
  }
  // The records from the committed offsets on, interleaved as a consumer may
  // see them: each partition in order, the partitions in random turns.
  const auto interleaved = [&](StateStore& store) {
    std::vector<InputRecord> stream;
    std::map<std::int32_t, std::size_t> next;
    for (auto& [partition, records] : by_partition) {
      const std::optional<std::int64_t> committed = Offset(store, partition);
      while (next[partition] < records.size() && committed &&
             records[next[partition]].offset < *committed) {
        ++next[partition];
      }
    }
    for (bool more = true; more;) {
      more = false;
      const std::int32_t partition = static_cast<std::int32_t>(random() % 2);
      if (next[partition] < by_partition[partition].size()) {
        stream.push_back(by_partition[partition][next[partition]++]);
      }
      for (auto& [p, records] : by_partition) more = more || next[p] < records.size();
    }
    return stream;
  };

  // What a run leaves: states, indexes, the alerts of the outbox.
  struct Outcome {
    std::map<CustomerId, CustomerState> states;
    std::map<std::int32_t, std::set<DueEntry>> due;
    std::vector<RiskEntry> risk;
    std::vector<std::tuple<std::string, std::string, Timestamp, double, std::string>> alerts;
  };
  const auto outcome_of = [](const MemoryStateStore& store) {
    Outcome o{store.states(), store.due(), store.risk(), {}};
    // The segment is relative to the whole population, which the interleaving
    // of partitions and the commits move; the rest must not depend on them.
    for (auto& [id, state] : o.states) state.alert.last_segment.clear();
    for (const auto& [sequence, a] : store.outbox()) {
      o.alerts.emplace_back(a.customer_id.value(), a.outcome.alert_id, a.at, a.churn, a.action);
    }
    std::sort(o.alerts.begin(), o.alerts.end());
    return o;
  };

  MemoryStateStore single;
  {
    IngestProcessor processor = MakeProcessor(&single);
    Enable(processor);
    ASSERT_TRUE(processor.Load().ok());
    ASSERT_TRUE(processor.Process(interleaved(single)).ok());
  }
  const Outcome want = outcome_of(single);
  ASSERT_FALSE(want.alerts.empty());  // the stream exercises alerts at all

  for (int run = 0; run < 6; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    MemoryStateStore store;
    IngestOptions options;
    options.max_customers_per_commit = 1 + random() % 4;
    int crashes = 0;
    for (;;) {
      // A processor lives until an injected commit failure (a crash).
      FaultyStateStore faulty(&store, run % 2 == 0 ? 1 + static_cast<int>(random() % 200) : 0);
      IngestProcessor processor = MakeProcessor(&faulty, options);
      Enable(processor);
      ASSERT_TRUE(processor.Load().ok());
      // Resume every partition from its committed offset, as the consumer does.
      const std::vector<InputRecord> rest = interleaved(store);
      bool crashed = false;
      for (std::size_t begin = 0; begin < rest.size() && !crashed;) {
        const std::size_t size = 1 + random() % 50;
        std::vector<InputRecord> batch(
            rest.begin() + static_cast<std::ptrdiff_t>(begin),
            rest.begin() + static_cast<std::ptrdiff_t>(std::min(rest.size(), begin + size)));
        crashed = !processor.Process(batch).ok();
        begin += batch.size();
      }
      if (!crashed) break;
      ++crashes;
      ASSERT_LT(crashes, 1000);
    }
    if (run % 2 == 0) {
      EXPECT_GT(crashes, 0);
    }
    const Outcome got = outcome_of(store);
    ASSERT_EQ(got.states.size(), want.states.size());
    for (const auto& [id, state] : want.states) {
      SCOPED_TRACE(id.value());
      ExpectSameState(state, got.states.at(id));
    }
    EXPECT_EQ(got.due, want.due);
    EXPECT_EQ(got.risk, want.risk);
    EXPECT_EQ(got.alerts, want.alerts);
  }
}

// The next looks of a commit are planned on the planning threads: the states,
// indexes and alerts must be those of planning on the consumer's thread alone,
// on the wall clock both when touchpoints come (in commits large enough to
// be shared out) and when due looks are taken, several a round.
TEST_F(IngestAlertsTest, PlanningThreadsLeaveWhatPlanningAloneLeaves) {
  std::mt19937 random(20261202);
  std::vector<InputRecord> records;
  for (int i = 0; i < 3000; ++i) {
    const std::string customer = "c" + std::to_string(random() % 300);
    const Type type = random() % 2 == 0 ? Type::kPurchase : Type::kContact;
    records.push_back(Record(static_cast<std::int32_t>(random() % 3), i,
                             For(customer, type, "e" + std::to_string(i), i * 0.1)));
  }
  const auto run = [&](int threads, MemoryStateStore& store) {
    clock_.Set(Day(300));
    IngestOptions options;
    options.planning_threads = threads;
    IngestProcessor processor = MakeProcessor(&store, options);
    Enable(processor, &clock_);
    ASSERT_TRUE(processor.Load().ok());
    for (std::size_t begin = 0; begin < records.size(); begin += 500) {
      const std::vector<InputRecord> batch(
          records.begin() + static_cast<std::ptrdiff_t>(begin),
          records.begin() + static_cast<std::ptrdiff_t>(std::min(records.size(), begin + 500)));
      ASSERT_TRUE(processor.Process(batch).ok());
    }
    // A year of silence, its looks taken in rounds.
    clock_.Set(Day(700));
    std::size_t rescored = 0;
    for (int round = 0; round < 1000; ++round) {
      auto result = processor.RescoreDue(50);
      ASSERT_TRUE(result.ok()) << result.status();
      rescored += result->rescored;
      if (result->rescored == 0) break;
    }
    EXPECT_GT(rescored, 300u);  // every customer was looked at again, most more than once
  };
  MemoryStateStore alone, shared;
  run(0, alone);
  run(3, shared);
  const auto states = alone.states();
  ASSERT_GT(states.size(), 290u);
  EXPECT_EQ(shared.states().size(), states.size());
  for (const auto& [id, state] : states) {
    SCOPED_TRACE(id.value());
    ExpectSameState(state, shared.states().at(id));
  }
  EXPECT_EQ(shared.due(), alone.due());
  EXPECT_EQ(shared.risk(), alone.risk());
  ASSERT_FALSE(alone.outbox().empty());
  EXPECT_EQ(shared.outbox().size(), alone.outbox().size());
}

// With the changelog: a partition given to a new owner (an empty store) is
// rebuilt from the changelog alone, exactly as its owner committed it.
class IngestChangelogTest : public IngestAlertsTest {
 protected:
  IngestProcessor Owner(StateStore* store) {
    IngestProcessor processor = Started(store);
    processor.EnableChangelog(
        {.sink = &changelog_, .source = &changelog_, .new_epoch = [this] { return ++epochs_; }});
    return processor;
  }
  // Two partitions' customers, in three batches: steady buyers, one-off
  // buyers, a duplicate, a rejected record.
  static std::vector<std::vector<InputRecord>> Stream() {
    struct Event {
      double day;
      std::int32_t partition;
      std::string customer, id;
      Type type;
    };
    std::vector<Event> events;
    for (std::int32_t p : {0, 1}) {
      const std::string steady = "steady-" + std::to_string(p);
      for (int i = 0; i < 20; ++i) {
        events.push_back({14.0 * i, p, steady, steady + std::to_string(i), Type::kPurchase});
      }
    }
    for (int i = 0; i < 12; ++i) {
      events.push_back({30.0 + 20 * i, i % 2, "once-" + std::to_string(i), "o", Type::kPurchase});
    }
    events.push_back({31, 0, "once-0", "o", Type::kPurchase});  // a duplicate
    // Much later: the steady buyers are overdue, the time index has looks due.
    events.push_back({700, 0, "late-0", "l", Type::kContact});
    events.push_back({700, 1, "late-1", "l", Type::kContact});
    std::stable_sort(events.begin(), events.end(),
                     [](const Event& a, const Event& b) { return a.day < b.day; });
    std::vector<InputRecord> all;
    std::int64_t offsets[2] = {0, 0};
    for (const Event& e : events) {
      all.push_back(
          Record(e.partition, offsets[e.partition]++, For(e.customer, e.type, e.id, e.day)));
      if (all.size() == 25) all.push_back(Undecodable(1, offsets[1]++, "x", "garbage"));
    }
    const std::size_t third = all.size() / 3;
    return {{all.begin(), all.begin() + third},
            {all.begin() + third, all.begin() + 2 * third},
            {all.begin() + 2 * third, all.end()}};
  }
  static void ExpectSamePartitions(MemoryStateStore& want, MemoryStateStore& got) {
    ExpectSameStore(want, got);
    EXPECT_EQ(got.LoadPopulation(kTopic).value(), want.LoadPopulation(kTopic).value());
    EXPECT_EQ(got.due(), want.due());
    EXPECT_EQ(got.risk(), want.risk());
    for (const auto& [key, state] : want.partitions()) {
      const PartitionState other = got.partitions().at(key);
      EXPECT_EQ(other.next_offset, state.next_offset) << key.second;
      EXPECT_EQ(other.watermark, state.watermark) << key.second;
      EXPECT_EQ(other.open_alerts, state.open_alerts) << key.second;
    }
  }

  testing::MemoryChangelog changelog_;
  std::uint64_t epochs_ = 0;
};

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

}  // namespace
}  // namespace crm
