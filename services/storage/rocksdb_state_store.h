#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/state_store.h"

namespace rocksdb {
class DB;
}

namespace crm {

// Bumped when the stored layout changes incompatibly; a data dir written with
// another version is refused at open, never silently reset.
inline constexpr std::string_view kStateFormatVersion = "2";

struct RocksDbOptions {
  std::string path;                  // the data dir; created when missing
  std::size_t block_cache_mb = 64;   // shared LRU block cache
  std::size_t write_buffer_mb = 32;  // per memtable
  // fsync the WAL on every commit. Off by default: a process crash loses
  // nothing either way (the WAL is in the OS's cache); a machine crash may lose
  // the latest commits, state and offsets together, and they are re-consumed.
  bool sync_writes = false;
};

// Size figures for metrics.
struct StorageStats {
  std::uint64_t live_data_bytes = 0;
  std::uint64_t sst_files_bytes = 0;
  std::uint64_t memtable_bytes = 0;
  std::uint64_t estimated_keys = 0;
};

// StateStore on RocksDB. Layout: "c" + customer id -> StoredCustomer;
// "o" + topic + '\0' + partition (4 bytes, big-endian) -> next offset (8 bytes,
// big-endian); "p" + topic + '\0' + partition (4 bytes) + axis (1 byte) + bucket
// (8 bytes, big-endian, sign bit flipped) -> customers (8 bytes, big-endian);
// "e" + topic -> the latest event time applied (µs, 8 bytes, big-endian);
// "t" + due time (µs, 8 bytes, big-endian, sign bit flipped) + customer id -> ""
// (the time index of customers due for a new look); "a" + sequence (8 bytes,
// big-endian) -> crm.v1.ChurnAlert (the outbox of alerts to deliver);
// "m:format" -> kStateFormatVersion. Thread-safe.
class RocksDbStateStore final : public StateStore {
 public:
  // Opens or creates the store. Errors name the data dir and the cause: locked
  // by another process, unreadable, or written by an incompatible version.
  static absl::StatusOr<std::unique_ptr<RocksDbStateStore>> Open(const RocksDbOptions& options);
  ~RocksDbStateStore() override;

  absl::StatusOr<std::optional<CustomerState>> Get(const CustomerId& id) override;
  absl::StatusOr<std::optional<std::int64_t>> GetOffset(const std::string& topic,
                                                        std::int32_t partition) override;
  absl::StatusOr<std::optional<Timestamp>> LoadLatestEventTime(const std::string& topic) override;
  absl::StatusOr<std::vector<PopulationCell>> LoadPopulation(const std::string& topic) override;
  absl::StatusOr<std::vector<CustomerId>> Due(Timestamp until, std::size_t limit) override;
  absl::StatusOr<std::vector<std::pair<std::uint64_t, AlertEvent>>> PendingAlerts(
      std::size_t limit) override;
  absl::StatusOr<std::optional<std::uint64_t>> LastPendingAlert() override;
  absl::Status AckAlerts(std::uint64_t through) override;
  absl::Status Commit(const std::string& topic, const StateBatch& batch) override;

  // Flushes memtables to disk (at clean shutdown, so restart replays no WAL).
  absl::Status Flush();
  StorageStats Stats() const;

 private:
  RocksDbStateStore(std::unique_ptr<rocksdb::DB> db, RocksDbOptions options);
  std::unique_ptr<rocksdb::DB> db_;
  RocksDbOptions options_;
};

}  // namespace crm
