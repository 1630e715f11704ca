#include "core/ingest_processor.h"

#include <gtest/gtest.h>

#include "tests/core/test_touchpoints.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/memory_state_store.h"
#include "tests/fakes/recording_sinks.h"

namespace crm {
namespace {

using testing::Day;
using testing::FakeClock;
using testing::FaultyStateStore;
using testing::MakeTouchpoint;
using testing::MemoryStateStore;
using testing::RecordingProbe;
using testing::RecordingRejectSink;
using Type = TouchpointType;

InputRecord Record(std::int32_t partition, std::int64_t offset, Touchpoint tp) {
  InputRecord record;
  record.partition = partition;
  record.offset = offset;
  record.key = tp.customer_id.value();
  record.value = "original bytes";
  record.payload = std::move(tp);
  return record;
}

Touchpoint For(const std::string& customer, Type type, const std::string& id, double day) {
  Touchpoint tp = MakeTouchpoint(type, id, day);
  tp.customer_id = CustomerId(customer);
  return tp;
}

class IngestProcessorTest : public ::testing::Test {
 protected:
  IngestProcessor MakeProcessor(StateStore* store) {
    return IngestProcessor(IngestOptions{}, store, &clock_, &probe_, &sink_);
  }
  std::optional<std::int64_t> Offset(StateStore& store, std::int32_t partition) {
    return *store.GetOffset("crm.touchpoints", partition);
  }
  FakeClock clock_{Day(100)};
  RecordingProbe probe_;
  RecordingRejectSink sink_;
  MemoryStateStore store_;
};

TEST_F(IngestProcessorTest, CommitsStatesWithEachPartitionsNextOffset) {
  IngestProcessor processor = MakeProcessor(&store_);
  std::vector<InputRecord> batch = {Record(0, 10, For("a", Type::kPurchase, "1", 1)),
                                    Record(1, 4, For("b", Type::kContact, "2", 1)),
                                    Record(0, 11, For("a", Type::kContact, "3", 2))};
  auto result = processor.Process(batch);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->applied, 3u);
  EXPECT_EQ(Offset(store_, 0), 12);
  EXPECT_EQ(Offset(store_, 1), 5);
  EXPECT_EQ(store_.commits(), 1);
  EXPECT_EQ((*store_.Get(CustomerId("a")))->events_applied, 2u);
  EXPECT_EQ(probe_.consumed, 3u);
  EXPECT_EQ(probe_.applied[Type::kPurchase], 1);
  EXPECT_EQ(probe_.batches, 1u);
}

TEST_F(IngestProcessorTest, DuplicatesAreSkippedWithinAndAcrossBatches) {
  IngestProcessor processor = MakeProcessor(&store_);
  std::vector<InputRecord> first = {Record(0, 0, For("a", Type::kPurchase, "1", 1)),
                                    Record(0, 1, For("a", Type::kPurchase, "1", 1))};
  ASSERT_EQ(processor.Process(first)->duplicates, 1u);
  std::vector<InputRecord> second = {Record(0, 2, For("a", Type::kPurchase, "1", 1))};
  ASSERT_EQ(processor.Process(second)->duplicates, 1u);
  EXPECT_EQ((*store_.Get(CustomerId("a")))->purchases, 1u);
  EXPECT_EQ(probe_.duplicates, 2u);
  EXPECT_EQ(Offset(store_, 0), 3);
}

TEST_F(IngestProcessorTest, StateSurvivesACacheMissThroughTheStore) {
  IngestOptions options;
  options.cache_entries = 0;  // every batch reads the store
  IngestProcessor processor(options, &store_, &clock_, &probe_, &sink_);
  std::vector<InputRecord> first = {Record(0, 0, For("a", Type::kPurchase, "1", 1))};
  std::vector<InputRecord> second = {Record(0, 1, For("a", Type::kPurchase, "2", 2)),
                                     Record(0, 2, For("a", Type::kPurchase, "1", 1))};
  ASSERT_TRUE(processor.Process(first).ok());
  ASSERT_TRUE(processor.Process(second).ok());
  EXPECT_EQ((*store_.Get(CustomerId("a")))->purchases, 2u);
}

TEST_F(IngestProcessorTest, RejectedRecordsGoToTheSinkAndTheirOffsetsAdvance) {
  IngestProcessor processor = MakeProcessor(&store_);
  InputRecord undecodable;
  undecodable.partition = 0;
  undecodable.offset = 7;
  undecodable.key = "a";
  undecodable.value = "garbage";
  undecodable.payload = Rejection{RejectReason::kMalformed, "not protobuf"};
  Touchpoint future = For("a", Type::kContact, "9", 300);  // now is day 100
  std::vector<InputRecord> batch = {Record(0, 5, For("a", Type::kContact, "1", 1)),
                                    Record(0, 6, future), undecodable,
                                    Record(0, 8, For("a", Type::kContact, "2", 1))};
  batch[3].key = "someone-else";
  auto result = processor.Process(batch);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->applied, 1u);
  ASSERT_EQ(result->rejected.size(), 3u);
  ASSERT_EQ(sink_.flushed.size(), 3u);
  EXPECT_EQ(sink_.flushed[0].reason, RejectReason::kBadTimestamp);
  EXPECT_EQ(sink_.flushed[1].reason, RejectReason::kMalformed);
  EXPECT_EQ(sink_.flushed[1].value, "garbage");
  EXPECT_EQ(sink_.flushed[1].offset, 7);
  EXPECT_EQ(sink_.flushed[2].reason, RejectReason::kKeyMismatch);
  EXPECT_EQ(probe_.rejected[RejectReason::kMalformed], 1);
  EXPECT_EQ(Offset(store_, 0), 9);
}

TEST_F(IngestProcessorTest, AFailedSinkFlushCommitsNothing) {
  IngestProcessor processor = MakeProcessor(&store_);
  sink_.fail_flush = true;
  InputRecord bad = Record(0, 0, For("a", Type::kContact, "1", 1));
  bad.payload = Rejection{RejectReason::kMalformed, "x"};
  std::vector<InputRecord> batch = {bad, Record(0, 1, For("a", Type::kContact, "2", 1))};
  EXPECT_FALSE(processor.Process(batch).ok());
  EXPECT_EQ(Offset(store_, 0), std::nullopt);
  EXPECT_EQ(*store_.Get(CustomerId("a")), std::nullopt);
}

// A failed commit advances nothing; processing the batch again afterwards
// gives exactly the state of one clean pass.
TEST_F(IngestProcessorTest, AFailedCommitIsReplayedToTheSameState) {
  std::vector<std::vector<InputRecord>> batches = {
      {Record(0, 0, For("a", Type::kPurchase, "1", 1)),
       Record(0, 1, For("b", Type::kComplaint, "2", 2))},
      {Record(0, 2, For("a", Type::kPurchase, "3", 3)),
       Record(0, 3, For("b", Type::kComplaint, "4", 4))},
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
  EXPECT_FALSE(processor.Process(batches[1]).ok());
  EXPECT_EQ(Offset(inner, 0), 2);  // the failed batch left no trace
  EXPECT_EQ((*inner.Get(CustomerId("a")))->purchases, 1u);
  ASSERT_TRUE(processor.Process(batches[1]).ok());  // re-read from the stored offset
  EXPECT_EQ(Offset(inner, 0), 4);
  for (const char* id : {"a", "b"}) {
    const CustomerState want = **clean.Get(CustomerId(id));
    const CustomerState got = **inner.Get(CustomerId(id));
    EXPECT_EQ(got.events_applied, want.events_applied) << id;
    EXPECT_EQ(got.purchases, want.purchases) << id;
    EXPECT_EQ(got.complaints, want.complaints) << id;
    EXPECT_EQ(got.recent_events, want.recent_events) << id;
  }
}

}  // namespace
}  // namespace crm
