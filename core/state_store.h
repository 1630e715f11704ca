#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "core/alert_event.h"
#include "core/changelog_stamp.h"
#include "core/customer_id.h"
#include "core/customer_state.h"
#include "core/follow_up.h"
#include "core/population.h"
#include "core/touchpoint.h"

namespace crm {

// The error a StateStore returns when a write failed for want of space (a
// full disk): RESOURCE_EXHAUSTED, marked so that IsStorageFull tells it from
// any other. Unlike other write errors it is expected to pass: the caller may
// retry the same write once space returns (nothing of the failed one counts).
inline constexpr char kStorageFullPayload[] = "crm.storage_full";
inline absl::Status StorageFullError(const std::string& message) {
  absl::Status status = absl::ResourceExhaustedError(message);
  status.SetPayload(kStorageFullPayload, absl::Cord("1"));
  return status;
}
inline bool IsStorageFull(const absl::Status& status) {
  return absl::IsResourceExhausted(status) && status.GetPayload(kStorageFullPayload).has_value();
}

// What is kept about one partition of the input topic, committed with the
// states its records produced.
// The most erasure fences a partition keeps (the oldest go first): 64 KiB
// of them in each changelog marker at worst.
inline constexpr std::size_t kMaxErasureFences = 4096;

struct PartitionState {
  std::optional<std::int64_t> next_offset;  // the next offset to read; nullopt: none read yet
  // The latest event time applied from this partition: its event-time
  // progress, which drives its time index on the event clock.
  std::optional<Timestamp> watermark;
  std::uint64_t open_alerts = 0;  // customers of the partition with an open alert
  // Its changelog (core/changelog.h): the owner's epoch (0: none yet), the
  // latest commit's sequence number in it, the commit the epoch continues
  // from, and the changelog offset of the marker this state is at.
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
  std::optional<ChangelogStamp> parent;
  std::optional<std::int64_t> changelog_offset;
  // When that marker became this store's checkpoint (the wall clock before
  // it was written, or before the restore that reached it was read): every
  // record after it in the changelog, tombstones included, is at least this
  // recent (see IngestProcessor::RestorePartition). Nullopt: unknown.
  std::optional<Timestamp> checkpoint_at;
  // Erasure fences: the customers of the partition erased lately, by the
  // hash of their id (EventIdHash: the id itself is not kept), with the
  // moment of their erasure. A touchpoint of theirs that occurred before it
  // and arrives after it is dropped (IngestProcessor). Kept for
  // IngestOptions::erasure_fence_ttl, and at most kMaxErasureFences.
  std::map<std::uint64_t, Timestamp> erasure_fences;
  friend bool operator==(const PartitionState&, const PartitionState&) = default;
};

// An entry of the at-risk index: `customer`'s churn at a recent look (see
// AlertState::indexed_churn).
struct RiskEntry {
  double churn = 0;
  CustomerId customer;
  std::int32_t partition = 0;  // whose index holds the entry (and the state)
  friend bool operator==(const RiskEntry&, const RiskEntry&) = default;
};

// An entry of the offer index of one product: `customer`'s appetence for it
// at a recent look (see AlertState::indexed_appetence).
struct OfferEntry {
  double probability = 0;
  CustomerId customer;
  std::int32_t partition = 0;  // whose index holds the entry (and the state)
  friend bool operator==(const OfferEntry&, const OfferEntry&) = default;
};

// A move of one customer in the at-risk index, the offer index and the
// outcome index of their partition: the entries of `from` go,
// those of `to` come (absent, empty or null: none; an appetence entry or a
// follow-up unchanged stays). The outcome index holds the follow-ups
// customers keep (AlertState::follow_ups) by time of raising.
struct IndexChange {
  std::int32_t partition = 0;
  const CustomerId* customer = nullptr;
  std::optional<double> risk_from, risk_to;
  AppetenceByProduct appetence_from, appetence_to;
  const std::vector<AlertFollowUp>* follow_ups_from = nullptr;
  const std::vector<AlertFollowUp>* follow_ups_to = nullptr;
};

// The most recent touchpoints kept per customer (StateStore::RecentTouchpoints).
inline constexpr std::size_t kRecentTouchpoints = 20;

// A touchpoint applied to its customer's state (not a duplicate, nor rejected,
// nor dropped), kept among their recent ones: the `sequence`-th applied to
// them (their CustomerState::events_applied once it was), under `partition`.
struct AppliedTouchpoint {
  std::int32_t partition = 0;
  std::uint64_t sequence = 0;
  const Touchpoint* touchpoint = nullptr;  // its customer_id is the customer's
};

// What one commit makes durable, all or nothing: the customers' new states
// (each under its partition, CustomerState::partition),
// the population cells they changed (applied in order: the last write to a
// cell wins; a count of 0 deletes it), the partitions' new offsets and
// progress, the index entries and alerts that go with them, and the
// touchpoints applied (outside the states: kept by the store for
// RecentTouchpoints, each replacing the one kRecentTouchpoints before it).
struct StateBatch {
  std::vector<std::pair<const CustomerId*, const CustomerState*>> customers;
  // Their states in the store's encoding, aligned with `customers`, when the
  // commit encoded them once for the changelog and the store (empty: the
  // store encodes them). The store writes these bytes as they are.
  std::vector<std::string> encoded;
  std::vector<AppliedTouchpoint> touchpoints;  // in the order applied
  std::vector<PopulationCell> population;
  std::vector<std::pair<std::int32_t, PartitionState>> partitions;
  // The latest event time applied so far, when this batch moved it forward.
  std::optional<Timestamp> latest_event_time;
  std::vector<IndexChange> index;
  // Alerts raised or cleared, for delivery (the outbox), by sequence number.
  std::vector<std::pair<std::uint64_t, const AlertEvent*>> outbox;
  // Customers forgotten (their states and recent touchpoints deleted, by
  // partition, this batch's included), and outbox alerts withdrawn.
  std::vector<std::pair<std::int32_t, const CustomerId*>> erased;
  std::vector<std::uint64_t> outbox_removed;
  // Made durable on disk before Commit returns (fsynced), whatever the
  // store's default: an erasure is answered only once it is.
  bool sync = false;
};

// The durable home of customer state and input offsets (port; RocksDB in
// production, memory in tests). Everything but the outbox is kept per
// partition of the input topic, so that a partition can be dropped or rebuilt
// on its own. All methods are thread-safe; a read sees only committed
// batches, never part of one.
class StateStore {
 public:
  virtual ~StateStore() = default;

  // The customer's committed state under `partition`; nullopt when unknown
  // there; an error status when the store failed or holds a record it cannot
  // read.
  virtual absl::StatusOr<std::optional<CustomerState>> Get(std::int32_t partition,
                                                           const CustomerId& id) = 0;

  // The customer's committed state under whichever partition holds it,
  // `hint` tried first (a customer's touchpoints all come from the partition
  // of their key, so at most one does).
  absl::StatusOr<std::optional<CustomerState>> Find(
      const CustomerId& id, std::optional<std::int32_t> hint = std::nullopt) {
    return Locate(id, hint);
  }

  // The customer's recent touchpoints under `partition` (StateBatch::touchpoints),
  // latest applied first, at most `limit`: those numbered after `through` -
  // kRecentTouchpoints up to `through` (pass the state's events_applied: what
  // an earlier owner of the partition left outside that window is not
  // theirs any more). Their attributes are not kept. Empty when none.
  virtual absl::StatusOr<std::vector<Touchpoint>> RecentTouchpoints(std::int32_t partition,
                                                                    const CustomerId& id,
                                                                    std::uint64_t through,
                                                                    std::size_t limit) = 0;

  // Deletes everything kept under `partition` (of `topic`, for its offset and
  // population): states, recent touchpoints, indexes, population cells, offset and progress. The
  // outbox stays. After it, the partition is as if never seen.
  virtual absl::Status DropPartition(const std::string& topic, std::int32_t partition) = 0;

  // What was committed about `partition` of `topic`; nullopt when nothing.
  virtual absl::StatusOr<std::optional<PartitionState>> GetPartition(const std::string& topic,
                                                                     std::int32_t partition) = 0;

  // The committed next offset of `partition` of `topic`; nullopt when none was committed.
  absl::StatusOr<std::optional<std::int64_t>> GetOffset(const std::string& topic,
                                                        std::int32_t partition) {
    auto state = GetPartition(topic, partition);
    if (!state.ok()) return state.status();
    if (!*state) return std::optional<std::int64_t>();
    return (*state)->next_offset;
  }

  // The latest event time committed for `topic`; nullopt before any.
  virtual absl::StatusOr<std::optional<Timestamp>> LoadLatestEventTime(
      const std::string& topic) = 0;

  // Every committed population cell of `topic`'s partitions.
  virtual absl::StatusOr<std::vector<PopulationCell>> LoadPopulation(const std::string& topic) = 0;

  // Visits the next look of every customer under `partition` that has one
  // (CustomerState's alert.next_look), in no particular order: what the
  // time index in memory is built from (core/look_schedule.h).
  virtual absl::Status ForEachNextLook(
      std::int32_t partition, const std::function<void(const CustomerId&, Timestamp)>& visit) = 0;

  // The at-risk index of every partition, highest churn first (ties by
  // customer id), from the first entry after `after`, at most `limit`.
  virtual absl::StatusOr<std::vector<RiskEntry>> Riskiest(const std::optional<RiskEntry>& after,
                                                          std::size_t limit) = 0;

  // The offer index of `product` in every partition, highest appetence first
  // (ties by customer id), from the first entry after `after`, at most
  // `limit`. Empty for a product nobody is indexed for.
  virtual absl::StatusOr<std::vector<OfferEntry>> LikeliestBuyers(
      std::string_view product, const std::optional<OfferEntry>& after, std::size_t limit) = 0;

  // Visits the outcome index: the follow-ups of the alerts raised in
  // [since, until) (unset: no bound), under the partitions `take` accepts,
  // each once, in no particular order.
  virtual absl::Status ForEachFollowUp(std::optional<Timestamp> since,
                                       std::optional<Timestamp> until,
                                       const std::function<bool(std::int32_t)>& take,
                                       const std::function<void(const AlertFollowUp&)>& visit) = 0;

  // The alerts of the outbox not yet acknowledged, in sequence, at most `limit`.
  virtual absl::StatusOr<std::vector<std::pair<std::uint64_t, AlertEvent>>> PendingAlerts(
      std::size_t limit) = 0;

  // The sequence number of the outbox's last alert; nullopt when it is empty.
  virtual absl::StatusOr<std::optional<std::uint64_t>> LastPendingAlert() = 0;

  // Removes the outbox's alerts of these sequence numbers, delivered; the
  // others stay, below them too: commits of several threads may land out of
  // sequence, an alert after a later one was read. A StorageFullError when
  // the disk is full, as for Commit.
  virtual absl::Status AckAlerts(const std::vector<std::uint64_t>& sequences) = 0;

  // Find's work: the state of `id` under whichever partition holds it.
  virtual absl::StatusOr<std::optional<CustomerState>> Locate(const CustomerId& id,
                                                              std::optional<std::int32_t> hint) = 0;

  // Makes `batch` durable atomically (for `topic`'s offsets). On error nothing
  // of the batch is visible, and the caller must not advance past it; a
  // StorageFullError (IsStorageFull) when the disk is full: the same batch
  // may be committed again later.
  virtual absl::Status Commit(const std::string& topic, const StateBatch& batch) = 0;
};

}  // namespace crm
