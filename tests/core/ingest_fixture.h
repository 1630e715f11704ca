#pragma once

// What the ingest tests share: records, stores compared, and three fixtures,
// one for each room of the ingest (IngestProcessorTest: applying and
// committing; IngestAlertsTest: looks; IngestChangelogTest: the hand-over).

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
#include "core/ingest_processor.h"
#include "core/population.h"
#include "core/touchpoint.h"
#include "core/validation.h"
#include "tests/core/bgnbd_model.h"
#include "tests/core/expect_same_state.h"
#include "tests/core/test_touchpoints.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/memory_changelog.h"
#include "tests/fakes/memory_state_store.h"
#include "tests/fakes/recording_audit_log.h"
#include "tests/fakes/recording_probe.h"
#include "tests/fakes/recording_reject_sink.h"

namespace crm {
namespace ingest_test {

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

inline constexpr char kTopic[] = "crm.touchpoints";  // IngestOptions' default

// Every committed state and offset of `got` equals those of `want`.
inline void ExpectSameStore(const MemoryStateStore& want, const MemoryStateStore& got) {
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

inline Touchpoint For(const std::string& customer, Type type, const std::string& event_id,
                      double day) {
  Touchpoint tp = MakeTouchpoint(type, event_id, day);
  tp.customer_id = CustomerId(customer);
  return tp;
}

inline InputRecord Record(std::int32_t partition, std::int64_t offset, Touchpoint tp) {
  InputRecord record;
  record.partition = partition;
  record.offset = offset;
  record.key = tp.customer_id.value();
  record.value = "original bytes";
  record.payload = std::move(tp);
  return record;
}

inline InputRecord Undecodable(std::int32_t partition, std::int64_t offset, std::string key,
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
    return IngestProcessor(std::move(options), store, &clock_, &probe_,
                           {.rejects = DeadLetters{&sink_}});
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

// Alerts on the built-in model with BG/NBD (the trajectories below are worked
// out on it), on the event clock unless told otherwise.
class IngestAlertsTest : public IngestProcessorTest {
 protected:
  IngestAlertsTest() : scorers_(std::make_shared<const Scorer>(BuiltInBgNbdModel())) {}

  void Enable(IngestProcessor& processor, const Clock* wall = nullptr) {
    processor.EnableAlerts({.scorers = &scorers_, .policy = &policy_, .clock = wall});
  }
  // A processor on `store` with alerts on the event clock, loaded, the wall
  // clock (which only bounds validation here) at day 1000.
  IngestProcessor Started(StateStore* store, IngestOptions options = IngestOptions{}) {
    clock_.Set(Day(1000));
    IngestProcessor processor = MakeProcessor(store, std::move(options));
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

}  // namespace ingest_test
}  // namespace crm
