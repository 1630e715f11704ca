// ChangelogReplay against logs written by owners that hand a partition over,
// die mid-commit, or go on writing after their successor's fence, read whole,
// compacted, or from a local checkpoint.
#include "core/changelog.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/partition_ownership.h"

namespace crm {
namespace {

using Kind = ChangelogRecord::Kind;
// A partition's customers, by id: their events_applied stands for their state.
using Table = std::map<std::string, std::uint64_t>;

CustomerState StateWith(std::uint64_t events) {
  CustomerState state;
  state.partition = 0;
  state.events_applied = events;
  return state;
}

// Writes a partition's changelog as its owners would.
class Log {
 public:
  ChangelogMarker Fence(std::uint64_t epoch, std::optional<ChangelogStamp> parent,
                        std::int64_t next_offset) {
    ChangelogMarker fence{.at = {epoch, 0}, .parent = parent};
    fence.partition.next_offset = next_offset;
    Append({.kind = Kind::kFence, .marker = fence});
    return fence;
  }
  void Customer(ChangelogStamp stamp, const std::string& id, std::optional<std::uint64_t> events) {
    ChangelogRecord record{.kind = Kind::kCustomer, .customer = CustomerId(id), .stamp = stamp};
    if (events) record.state = StateWith(*events);
    Append(std::move(record));
  }
  void Marker(ChangelogStamp at, std::optional<ChangelogStamp> parent, std::int64_t next_offset) {
    ChangelogMarker marker{.at = at, .parent = parent};
    marker.partition.next_offset = next_offset;
    Append({.kind = Kind::kMarker, .marker = marker});
  }

  const std::vector<ChangelogRecord>& records() const { return records_; }

  // What Kafka's compaction may leave: before `horizon` (Kafka never cleans
  // the active segment: here, from the latest fence on), only each key's
  // latest record there (a customer's, an epoch's marker, an epoch's fence),
  // erased customers' tombstones kept or removed; from `horizon` on, all.
  std::vector<ChangelogRecord> Compacted(bool drop_tombstones) const {
    std::size_t horizon = 0;
    for (std::size_t i = 0; i < records_.size(); ++i) {
      if (records_[i].kind == Kind::kFence) horizon = i;
    }
    std::map<std::string, std::size_t> latest;
    for (std::size_t i = 0; i < horizon; ++i) latest[KeyOf(records_[i])] = i;
    std::vector<ChangelogRecord> kept;
    for (std::size_t i = 0; i < records_.size(); ++i) {
      const ChangelogRecord& record = records_[i];
      if (i < horizon) {
        if (latest[KeyOf(record)] != i) continue;
        if (drop_tombstones && record.kind == Kind::kCustomer && !record.state) continue;
      }
      kept.push_back(record);
    }
    return kept;
  }

 private:
  static std::string KeyOf(const ChangelogRecord& record) {
    switch (record.kind) {
      case Kind::kCustomer:
      case Kind::kUnreadable:
        return "c" + record.customer.value();
      case Kind::kAlert:
        return "a" + record.alert_id;
      case Kind::kFence:
        return "f" + std::to_string(record.marker.at.epoch);
      case Kind::kMarker:
        break;
    }
    return "m" + std::to_string(record.marker.at.epoch);
  }
  void Append(ChangelogRecord record) {
    record.offset = static_cast<std::int64_t>(records_.size());
    records_.push_back(std::move(record));
  }
  std::vector<ChangelogRecord> records_;
};

struct Replayed {
  Table table;
  std::optional<ChangelogStamp> at;
  std::int64_t next_offset = -1;
  std::set<CustomerId> orphaned;
};

// Replays `records` (those after `from`, a local checkpoint's offset) onto `table`.
Replayed Replay(const std::vector<ChangelogRecord>& records, Table table = {},
                std::optional<ChangelogStamp> local = std::nullopt, std::int64_t from = -1) {
  ChangelogReplay replay(local);
  Replayed out{.table = std::move(table)};
  for (const ChangelogRecord& record : records) {
    if (record.offset <= from) continue;
    for (ChangelogStep& step : replay.Add(record)) {
      for (auto& [id, state] : step.customers) {
        if (state) {
          out.table[id.value()] = state->events_applied;
        } else {
          out.table.erase(id.value());
        }
      }
      out.next_offset = step.through.partition.next_offset.value_or(-1);
    }
  }
  replay.Finish();
  out.at = replay.at();
  out.orphaned = replay.orphaned();
  return out;
}

TEST(ChangelogReplayTest, CompleteCommitsAreAppliedInOrderAndAnUnfinishedOneIsDropped) {
  Log log;
  log.Fence(7, std::nullopt, 0);
  log.Customer({7, 1}, "a", 1);
  log.Customer({7, 1}, "b", 1);
  log.Marker({7, 1}, std::nullopt, 10);
  log.Customer({7, 2}, "a", 2);
  log.Customer({7, 2}, "b", std::nullopt);  // erased
  log.Marker({7, 2}, std::nullopt, 20);
  log.Customer({7, 3}, "a", 3);  // the owner died before this commit's marker
  const Replayed replayed = Replay(log.records());
  EXPECT_EQ(replayed.table, (Table{{"a", 2}}));
  EXPECT_EQ(replayed.at, (ChangelogStamp{7, 2}));
  EXPECT_EQ(replayed.next_offset, 20);
  EXPECT_EQ(replayed.orphaned, (std::set<CustomerId>{CustomerId("a")}));
}

TEST(ChangelogReplayTest, AFenceEndsItsParentEpochAndWhatAZombieWritesAfterIsIgnored) {
  Log log;
  log.Fence(1, std::nullopt, 0);
  log.Customer({1, 1}, "a", 1);
  log.Marker({1, 1}, std::nullopt, 10);
  log.Customer({1, 2}, "a", 2);  // unfinished: the successor continues from (1, 1)
  log.Fence(2, ChangelogStamp{1, 1}, 10);
  log.Customer({1, 2}, "b", 2);  // the old owner, unaware, finishes its commit
  log.Marker({1, 2}, std::nullopt, 20);
  log.Customer({2, 1}, "c", 1);
  log.Marker({2, 1}, ChangelogStamp{1, 1}, 15);
  const Replayed replayed = Replay(log.records());
  EXPECT_EQ(replayed.table, (Table{{"a", 1}, {"c", 1}}));
  EXPECT_EQ(replayed.at, (ChangelogStamp{2, 1}));
  EXPECT_EQ(replayed.next_offset, 15);
  EXPECT_EQ(replayed.orphaned, (std::set<CustomerId>{CustomerId("a"), CustomerId("b")}));
  // Records of an epoch no fence introduced are not of the line either.
  Log stray;
  stray.Customer({9, 1}, "x", 1);
  stray.Marker({9, 1}, std::nullopt, 5);
  EXPECT_TRUE(Replay(stray.records()).table.empty());
}

// Owners in turn: each continues from the latest complete commit, writes its
// fence, rewrites the customers the replay found orphaned, then commits; some
// die mid-commit. Whatever the history, the replay of the whole log, of any
// compaction of it, and from any checkpoint of the line gives the state of
// the latest complete commit.
TEST(ChangelogReplayTest,
     EveryHistoryReplaysToItsLatestCompleteCommitWholeCompactedOrFromACheckpoint) {
  for (unsigned seed = 1; seed <= 200; ++seed) {
    std::mt19937 random(seed);
    const auto chance = [&](double p) { return std::bernoulli_distribution(p)(random); };
    Log log;
    Table truth;  // as of the latest complete commit
    struct Checkpoint {
      Table table;
      ChangelogStamp at;
      std::int64_t offset;
    };
    std::vector<Checkpoint> line;
    std::optional<ChangelogStamp> parent;
    std::int64_t next_offset = 0;
    const int owners = 1 + static_cast<int>(random() % 5);
    for (int owner = 1; owner <= owners; ++owner) {
      const auto epoch = static_cast<std::uint64_t>(1000 + random() % 1000) * 10 + owner;
      // The new owner restores what the log holds now, and checks it.
      const Replayed restored = Replay(log.records());
      ASSERT_EQ(restored.table, truth) << "seed " << seed << ", owner " << owner;
      log.Fence(epoch, parent, next_offset);
      line.push_back({truth, {epoch, 0}, static_cast<std::int64_t>(log.records().size()) - 1});
      std::uint64_t seq = 0;
      const auto commit = [&](const Table& changes, const std::set<std::string>& erased,
                              bool finish) {
        ++seq;
        for (const auto& [id, events] : changes) log.Customer({epoch, seq}, id, events);
        for (const std::string& id : erased) log.Customer({epoch, seq}, id, std::nullopt);
        if (!finish) return;
        for (const auto& [id, events] : changes) truth[id] = events;
        for (const std::string& id : erased) truth.erase(id);
        next_offset += 1 + static_cast<std::int64_t>(random() % 10);
        log.Marker({epoch, seq}, parent, next_offset);
        line.push_back({truth, {epoch, seq}, static_cast<std::int64_t>(log.records().size()) - 1});
      };
      if (!restored.orphaned.empty()) {
        Table again;
        std::set<std::string> gone;
        for (const CustomerId& id : restored.orphaned) {
          if (auto it = truth.find(id.value()); it != truth.end()) {
            again[id.value()] = it->second;
          } else {
            gone.insert(id.value());
          }
        }
        commit(again, gone, true);
      }
      const int commits = static_cast<int>(random() % 6);
      for (int c = 0; c < commits; ++c) {
        Table changes;
        std::set<std::string> erased;
        for (int n = 1 + static_cast<int>(random() % 3); n > 0; --n) {
          const std::string id = "c" + std::to_string(random() % 8);
          if (chance(0.15)) {
            erased.insert(id);
            changes.erase(id);
          } else {
            erased.erase(id);
            changes[id] = random() % 1000;
          }
        }
        const bool dies = c + 1 == commits && chance(0.4);
        commit(changes, erased, !dies);
      }
      parent = line.back().at;
    }
    const std::string where = "seed " + std::to_string(seed);
    const Replayed whole = Replay(log.records());
    EXPECT_EQ(whole.table, truth) << where;
    EXPECT_EQ(whole.next_offset, next_offset) << where;
    EXPECT_EQ(whole.at, parent) << where;
    EXPECT_EQ(Replay(log.Compacted(false)).table, truth) << where;
    EXPECT_EQ(Replay(log.Compacted(true)).table, truth) << where;
    const Checkpoint& checkpoint = line[random() % line.size()];
    EXPECT_EQ(Replay(log.records(), checkpoint.table, checkpoint.at, checkpoint.offset).table,
              truth)
        << where;
    EXPECT_EQ(
        Replay(log.Compacted(false), checkpoint.table, checkpoint.at, checkpoint.offset).table,
        truth)
        << where;
  }
}

TEST(PartitionOwnershipTest, ALookupWaitsOnlyWhileItsAnswerMayChange) {
  PartitionOwnership restoring;
  const CustomerId id("c");
  CustomerState on_two = StateWith(1);
  on_two.partition = 2;
  EXPECT_TRUE(restoring.CheckAnswer(id, std::nullopt).ok());
  EXPECT_TRUE(restoring.CheckAll().ok());
  restoring.Begin(2);
  EXPECT_EQ(restoring.CheckAnswer(id, on_two).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(restoring.CheckAnswer(id, std::nullopt).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(restoring.CheckAll().code(), absl::StatusCode::kUnavailable);
  CustomerState on_one = StateWith(1);
  on_one.partition = 1;
  EXPECT_TRUE(restoring.CheckAnswer(id, on_one).ok());  // another partition: it stands
  restoring.Begin(2);  // given it again while restoring: two restores to end
  restoring.End(2);
  EXPECT_FALSE(restoring.CheckAnswer(id, on_two).ok());
  restoring.End(2);
  EXPECT_TRUE(restoring.CheckAnswer(id, on_two).ok());
  EXPECT_TRUE(restoring.CheckAll().ok());

  // Once assigned: another instance's partitions are its to answer for.
  restoring.SetOwned({1}, 3);
  EXPECT_TRUE(restoring.CheckAnswer(id, on_one).ok());
  EXPECT_EQ(restoring.CheckAnswer(id, on_two).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(restoring.CheckAnswer(id, std::nullopt).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(restoring.CheckAll().code(), absl::StatusCode::kUnavailable);
  restoring.SetOwned({0, 1, 2}, 3);  // all of them: an unknown customer is unknown
  EXPECT_TRUE(restoring.CheckAnswer(id, std::nullopt).ok());
  EXPECT_TRUE(restoring.CheckAnswer(id, on_two).ok());
  EXPECT_TRUE(restoring.CheckAll().ok());
  restoring.SetOwned({0, 1, 2}, 0);  // the count unknown: it may not be all
  EXPECT_FALSE(restoring.CheckAnswer(id, std::nullopt).ok());
}

TEST(PartitionOwnershipTest,
     APartitionThatCouldNotBeRestoredIsUnavailableNamedUntilItsNextRestore) {
  PartitionOwnership restoring;
  restoring.SetOwned({0, 1}, 2);
  const CustomerId id("c");
  CustomerState on_zero = StateWith(1), on_one = StateWith(1);
  on_zero.partition = 0;
  on_one.partition = 1;
  restoring.Begin(1);
  restoring.End(1);
  restoring.Fail(1, "an unreadable record at offset 7");
  EXPECT_FALSE(restoring.Serves(1));
  EXPECT_TRUE(restoring.Serves(0));
  const absl::Status failed = restoring.CheckAnswer(id, on_one);
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(failed.message().find("partition 1"), std::string::npos) << failed;
  EXPECT_NE(failed.message().find("offset 7"), std::string::npos) << failed;
  EXPECT_TRUE(restoring.CheckAnswer(id, on_zero).ok());  // the other partition is served
  // Not found: the customer may be the failed partition's.
  EXPECT_EQ(restoring.CheckAnswer(id, std::nullopt).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(restoring.CheckAll().code(), absl::StatusCode::kUnavailable);
  // Given again (after a repair): restored anew, and served once it is.
  restoring.Begin(1);
  restoring.End(1);
  EXPECT_TRUE(restoring.CheckAnswer(id, on_one).ok());
  EXPECT_TRUE(restoring.CheckAll().ok());
  // A failed partition given to another instance is no longer this one's concern.
  restoring.Fail(1, "again");
  restoring.SetOwned({0}, 2);
  restoring.SetOwned({0, 1}, 2);
  EXPECT_TRUE(restoring.CheckAnswer(id, on_one).ok());
}

}  // namespace
}  // namespace crm
