#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/alerts.h"
#include "core/customer_id.h"
#include "core/customer_state.h"
#include "core/population.h"

namespace crm {

// The next offset to read on one partition of the input topic.
struct PartitionOffset {
  std::int32_t partition = 0;
  std::int64_t next_offset = 0;
};

// A move in the time index of customers due for a new look (see
// core/alerts.h): the entry at `from` goes, one at `to` comes.
struct DueChange {
  const CustomerId* customer = nullptr;
  std::optional<Timestamp> from, to;
};

// What one commit makes durable, all or nothing: the customers' new states,
// the population cells they changed (applied in order: the last write to a
// cell wins; a count of 0 deletes it) and the input offsets that produced them.
struct StateBatch {
  std::vector<std::pair<const CustomerId*, const CustomerState*>> customers;
  std::vector<PopulationCell> population;
  std::vector<PartitionOffset> offsets;
  // The latest event time applied so far, when this batch moved it forward.
  std::optional<Timestamp> latest_event_time;
  std::vector<DueChange> due;
  // Alerts raised, for delivery (the outbox), by sequence number.
  std::vector<std::pair<std::uint64_t, const AlertEvent*>> outbox;
};

// The durable home of customer state and input offsets (port; RocksDB in
// production, memory in tests). All methods are thread-safe; a Get sees only
// committed batches, never part of one.
class StateStore {
 public:
  virtual ~StateStore() = default;

  // The customer's committed state; nullopt when unknown; an error status when
  // the store failed or holds a record it cannot read.
  virtual absl::StatusOr<std::optional<CustomerState>> Get(const CustomerId& id) = 0;

  // The committed next offset of `partition` of `topic`; nullopt when none was committed.
  virtual absl::StatusOr<std::optional<std::int64_t>> GetOffset(const std::string& topic,
                                                                std::int32_t partition) = 0;

  // The latest event time committed for `topic`; nullopt before any.
  virtual absl::StatusOr<std::optional<Timestamp>> LoadLatestEventTime(
      const std::string& topic) = 0;

  // Every committed population cell of `topic`'s partitions.
  virtual absl::StatusOr<std::vector<PopulationCell>> LoadPopulation(const std::string& topic) = 0;

  // Customers whose next look is due at or before `until`, earliest first, at
  // most `limit`.
  virtual absl::StatusOr<std::vector<CustomerId>> Due(Timestamp until, std::size_t limit) = 0;

  // The alerts of the outbox not yet acknowledged, in sequence, at most `limit`.
  virtual absl::StatusOr<std::vector<std::pair<std::uint64_t, AlertEvent>>> PendingAlerts(
      std::size_t limit) = 0;

  // The sequence number of the outbox's last alert; nullopt when it is empty.
  virtual absl::StatusOr<std::optional<std::uint64_t>> LastPendingAlert() = 0;

  // Removes the outbox's alerts up to sequence number `through`, delivered.
  virtual absl::Status AckAlerts(std::uint64_t through) = 0;

  // Makes `batch` durable atomically (for `topic`'s offsets). On error nothing
  // of the batch is visible, and the caller must not advance past it.
  virtual absl::Status Commit(const std::string& topic, const StateBatch& batch) = 0;
};

}  // namespace crm
