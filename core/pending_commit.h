#pragma once

// One commit in the making: the ingest's unit of atomicity.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/alert_event.h"
#include "core/alerts.h"
#include "core/customer_id.h"
#include "core/customer_state.h"
#include "core/ingest_batch.h"
#include "core/ingest_state.h"
#include "core/look_schedule.h"
#include "core/population.h"
#include "core/scorer.h"
#include "core/state_store.h"

namespace crm {

// The customers one commit changed (working copies: the cache keeps the
// committed states), the partitions' progress, a view of each partition's
// time index as it stands with the commit's changes, the records rejected
// and the alerts raised or cleared.
//
// Invariant: nothing of it is seen by the rest of the ingest until the store
// took it whole. Batch() moves the population ahead and takes the outbox's
// sequence numbers; a failed commit puts the population back (Rollback) and
// leaves those numbers unused (core/alert_sequence.h); a commit dropped or
// failed forgets the states it lent from the cache (read again from the
// store, as committed); only Committed() moves the committed state.
// Used by the consumer thread only.
struct PendingCommit {
  struct Customer {
    CustomerState state;
    std::int32_t partition = 0;
    // As committed, to move the population and the indexes at commit.
    std::optional<PopulationEntry> population_before;
    std::optional<Timestamp> due_before;
    std::optional<double> risk_before;
    AppetenceByProduct appetence_before;
    std::vector<AlertFollowUp> follow_ups_before;
    // Looked at, the next look not planned yet: the thresholds it is planned
    // against (see LookScheduler).
    const AlertThresholds* plan = nullptr;
  };
  struct Partition {
    PartitionState state;  // committed, then moved by the commit
    // The committed time index (LookScheduler's schedule) is read past
    // `taken_until`; entries of customers changed by the commit are
    // superseded by `due`. Schedule full: the commit took every look the
    // schedule holds, and must be made before more are taken.
    std::optional<DueEntry> taken_until;
    bool schedule_full = false;
    std::set<DueEntry> due;  // of the commit's customers, but those not planned yet
    std::vector<std::pair<CustomerId, Customer*>> unplanned;  // may hold planned ones
  };

  // For the records of `input` (may be null), validated at `started` (wall
  // clock); `scorer` and `view` for the looks (null without alerts).
  PendingCommit(IngestState* state, Timestamp started, const std::vector<InputRecord>* input,
                std::shared_ptr<const Scorer> scorer, std::shared_ptr<const PopulationView> view);
  ~PendingCommit();
  PendingCommit(const PendingCommit&) = delete;
  PendingCommit& operator=(const PendingCommit&) = delete;

  // The commit's view of `partition`, its committed state read on first use.
  absl::StatusOr<Partition*> PartitionOf(std::int32_t partition);
  // The customer's working state, read from the cache or the store on first
  // use; a new customer when unknown, or nullptr with `known_only`.
  absl::StatusOr<Customer*> CustomerOf(const CustomerId& id, std::int32_t partition_id,
                                       Partition& partition, bool known_only = false);

  // Nothing to commit: no customer, no record, no stale index entry.
  bool empty() const { return customers.empty() && records == 0 && stale_due.empty(); }

  // The batch that commits it (pointing into this commit): moves the
  // population (which Rollback undoes) and numbers the alerts raised or
  // cleared in the outbox.
  StateBatch Batch();
  // The store refused Batch(): the population goes back to the committed one.
  void Rollback();
  // The store took `batch` (from Batch()): the committed state, the probe
  // and `result` learn it; the customers' states move to the cache, their
  // encodings (moved out of `batch`) with them.
  void Committed(StateBatch& batch, BatchResult& result);

  IngestState* const ingest;
  const Timestamp started;                           // wall clock, for validation
  const std::vector<InputRecord>* const input;       // the records being processed
  const std::shared_ptr<const Scorer> scorer;        // of the looks
  const std::shared_ptr<const PopulationView> view;  // segments of the looks
  std::unordered_map<CustomerId, Customer> customers;
  std::map<std::int32_t, Partition> partitions;
  std::vector<RejectedRecord> rejected;
  // The touchpoints applied, in order (pointing into `input`).
  std::vector<AppliedTouchpoint> touchpoints;
  std::vector<AlertEvent> alerts;
  std::vector<std::pair<std::int32_t, DueEntry>> stale_due;  // index entries no state backs
  std::vector<double> look_churns;                           // of every look taken, for the probe
  std::optional<Timestamp> latest_event;
  std::size_t records = 0;
  std::size_t looks_due = 0;

 private:
  struct Moved {
    std::int32_t partition;
    std::optional<PopulationEntry> before, after;
  };
  std::vector<Moved> moved_;  // by Batch()
  // States moved out of the cache into `customers`: put back by Committed,
  // or forgotten when the commit is dropped.
  std::vector<CustomerId> lent_;
  bool committed_ = false;
};

}  // namespace crm
