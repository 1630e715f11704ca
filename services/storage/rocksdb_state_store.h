#pragma once

#include <rocksdb/options.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/state_store.h"

namespace rocksdb {
class DB;
class WriteBatch;
}  // namespace rocksdb

namespace crm {

// Bumped when the stored layout changes incompatibly; a data dir written with
// another version is refused at open, never silently reset.
// Format 2 (states by customer id alone) is moved to format 3 at open.
inline constexpr std::string_view kStateFormatVersion = "3";

struct RocksDbOptions {
  std::string path;                  // the data dir; created when missing
  std::size_t block_cache_mb = 64;   // shared LRU block cache
  std::size_t write_buffer_mb = 32;  // per memtable
  // fsync the WAL on every commit. Off by default: a process crash loses
  // nothing either way (the WAL is in the OS's cache); a machine crash may lose
  // the latest commits, state and offsets together, and they are re-consumed.
  bool sync_writes = false;
  // Compactions run at the lowest CPU priority (nice 19), so that on a small
  // machine they take what the consumer thread leaves rather than stall it
  // (docs/benchmarks-history.md, third round); writes slow down on their own if they fall
  // far behind. Flushes keep the normal priority. Process-wide.
  bool low_priority_compactions = true;
  // Told how many states were moved so far when a data dir of an earlier
  // format is brought to this one at open (`done` at the end), for a log.
  std::function<void(std::uint64_t moved, bool done)> progress;
};

// The RocksDB options the store opens its data dir with (also what the
// benchmark's bare storage loop uses).
rocksdb::Options MakeRocksDbOptions(const RocksDbOptions& options);

// Size figures for metrics.
struct StorageStats {
  std::uint64_t live_data_bytes = 0;
  std::uint64_t sst_files_bytes = 0;
  std::uint64_t memtable_bytes = 0;
  std::uint64_t estimated_keys = 0;
};

// StateStore on RocksDB. Everything a partition holds is under a prefix of
// its own (states, indexes, population, offset), the outbox is shared. Layout (integers big-endian;
// times in µs with their sign bit flipped, so that keys sort as times do):
//   "s" + partition (4) + customer id -> crm.internal.StoredCustomer
//   "o" + topic + '\0' + partition (4) -> crm.internal.StoredPartition
//   "p" + topic + '\0' + partition (4) + axis (1) + bucket (8) -> customers (8)
//   "e" + topic -> the latest event time applied (8)
//   "h" + partition (4) + id length (4) + customer id + sequence (8) ->
//     crm.v1.Touchpoint without customer id nor attributes (the customer's
//     `sequence`-th touchpoint applied; the latest kRecentTouchpoints kept)
//   "t" + partition (4) + due time (8) + customer id: the time index of
//     earlier builds, dropped at open (the states hold the next looks)
//   "r" + partition (4) + ~churn bits (8) + customer id -> "" (the at-risk
//     index: highest churn first)
//   "f" + partition (4) + product length (2) + product + ~appetence bits (8) +
//     customer id -> "" (the offer index of each product: highest first; a
//     data dir from before it fills as its customers are looked at)
//   "a" + sequence (8) -> crm.v1.ChurnAlert (the outbox of alerts to deliver)
//   "m:format" -> kStateFormatVersion
// Thread-safe.
class RocksDbStateStore final : public StateStore {
 public:
  // Opens or creates the store. Errors name the data dir and the cause: locked
  // by another process, unreadable, or written by an incompatible version.
  static absl::StatusOr<std::unique_ptr<RocksDbStateStore>> Open(const RocksDbOptions& options);
  ~RocksDbStateStore() override;

  absl::StatusOr<std::optional<CustomerState>> Get(std::int32_t partition,
                                                   const CustomerId& id) override;
  absl::StatusOr<std::optional<CustomerState>> Locate(const CustomerId& id,
                                                      std::optional<std::int32_t> hint) override;
  absl::StatusOr<std::vector<Touchpoint>> RecentTouchpoints(std::int32_t partition,
                                                            const CustomerId& id,
                                                            std::uint64_t through,
                                                            std::size_t limit) override;
  absl::Status DropPartition(const std::string& topic, std::int32_t partition) override;
  absl::StatusOr<std::optional<PartitionState>> GetPartition(const std::string& topic,
                                                             std::int32_t partition) override;
  absl::StatusOr<std::optional<Timestamp>> LoadLatestEventTime(const std::string& topic) override;
  absl::StatusOr<std::vector<PopulationCell>> LoadPopulation(const std::string& topic) override;
  absl::Status ForEachNextLook(
      std::int32_t partition,
      const std::function<void(const CustomerId&, Timestamp)>& visit) override;
  absl::StatusOr<std::vector<OfferEntry>> LikeliestBuyers(std::string_view product,
                                                          const std::optional<OfferEntry>& after,
                                                          std::size_t limit) override;
  absl::StatusOr<std::vector<RiskEntry>> Riskiest(const std::optional<RiskEntry>& after,
                                                  std::size_t limit) override;
  absl::Status ForEachFollowUp(std::optional<Timestamp> since, std::optional<Timestamp> until,
                               const std::function<bool(std::int32_t)>& take,
                               const std::function<void(const AlertFollowUp&)>& visit) override;
  absl::StatusOr<std::vector<std::pair<std::uint64_t, AlertEvent>>> PendingAlerts(
      std::size_t limit) override;
  absl::StatusOr<std::optional<std::uint64_t>> LastPendingAlert() override;
  absl::Status AckAlerts(const std::vector<std::uint64_t>& sequences) override;
  absl::Status Commit(const std::string& topic, const StateBatch& batch) override;

  // Flushes memtables to disk (at clean shutdown, so restart replays no WAL).
  absl::Status Flush();
  StorageStats Stats() const;

 private:
  RocksDbStateStore(std::unique_ptr<rocksdb::DB> db, RocksDbOptions options,
                    std::set<std::int32_t> partitions);
  // The partitions that hold states (Find reads each: a point read its bloom
  // filters make cheap where the customer is not).
  std::vector<std::int32_t> StatePartitions() const;
  // Writes `batch` (resuming RocksDB first after a write that found the disk
  // full); errors name `what`.
  // `sync`: fsynced whatever --sync-writes says (StateBatch::sync).
  absl::Status Write(rocksdb::WriteBatch& batch, std::string_view what, bool sync = false);

  std::unique_ptr<rocksdb::DB> db_;
  RocksDbOptions options_;
  mutable absl::Mutex partitions_mutex_;
  std::set<std::int32_t> partitions_ ABSL_GUARDED_BY(partitions_mutex_);
  std::atomic<bool> no_space_{false};  // a write failed for want of space
};

}  // namespace crm
