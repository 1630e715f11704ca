#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/alert_event.h"
#include "core/alert_sequence.h"
#include "core/clock.h"
#include "core/erasure.h"
#include "core/ingest.h"
#include "core/ingest_batch.h"
#include "core/ingest_mode.h"
#include "core/ingest_probe.h"
#include "core/ingest_state.h"
#include "core/input_topic.h"
#include "core/look_scheduler.h"
#include "core/partition_handover.h"
#include "core/pending_commit.h"
#include "core/population.h"
#include "core/reject_sink.h"
#include "core/shared_states.h"
#include "core/state_store.h"
#include "core/validation.h"

namespace crm {

struct IngestOptions {
  std::string topic{kDefaultTouchpointTopic};  // whose offsets are committed
  StateLimits limits;
  ValidationLimits validation;
  std::size_t cache_entries = 100'000;  // customers' states kept in memory
  // The most bytes those states may hold (StateBytes); 0: bounded by entries only.
  std::size_t cache_bytes = 512ull << 20;
  // Customers changed by one commit at most: a larger poll batch, or a jump of
  // event time that makes many customers due at once, is committed in parts.
  std::size_t max_customers_per_commit = 10'000;
  // Next looks held in memory in all, shared out evenly among the
  // partitions assigned (each holds its earliest; the others are read from
  // the states again when these run out): LookScheduler.
  std::size_t schedule_entries = 1'000'000;
  // Threads besides the caller's that plan customers' next looks (the costly
  // part of a look) at each commit; 0 plans them on the caller's thread.
  int planning_threads = 0;
  // Called first on each planning thread (the service names it there).
  std::function<void()> planner_started;
  // How long an erasure fence is kept: the input topic's retention, past
  // which no touchpoint from before the erasure can arrive any more.
  Micros erasure_fence_ttl = std::chrono::hours(24 * 7);
  // The store's encoding of a state (the bytes it writes): with it, each
  // commit encodes each changed state once, for the changelog, the store and
  // `shared` alike (StateBatch::encoded). Empty: the store encodes them.
  std::function<std::string(const CustomerState&)> encode;
  // Where the outbox's sequence numbers are taken, when other processors
  // commit to the same store (null: this processor's own). Outlives the
  // processor.
  AlertSequence* alert_sequence = nullptr;
  // Where the committed states of the customers in the cache are shared with
  // readers on other threads, in that encoding (null: not shared).
  // REQUIRES: `encode` with it; outlives the processor.
  SharedStates* shared = nullptr;
};

// Applies batches of input records to customer state, exactly once: changed
// states, their partitions' next offsets and progress, the index entries and
// the alerts raised are committed in one atomic StateStore::Commit, so that a
// crash at any point either keeps a commit whole or replays it whole from the
// committed offsets.
//
// With alerts enabled, a customer is looked at (churn, alert raised or
// cleared, next look scheduled in the time index) after each of their
// touchpoints, as of their latest event time (or their latest look, if later:
// a late touchpoint never takes a look back in time), and at each moment of
// the time index, as of that moment; a look due before one of their
// touchpoints is taken before it. On the event clock the looks of a partition are taken as
// its records' event time passes them, so every look (and every alert) is a
// function of the partition's records alone: the same whatever the poll
// batches, crashes and restarts.
//
// A coordinator of rooms, each holding one invariant: the pending commit
// (core/pending_commit.h: a commit seen whole or not at all), the look
// scheduler (core/look_scheduler.h: the time index), the partition hand-over
// (core/partition_handover.h: the store never ahead of the changelog) and
// erasure (core/erasure.h), sharing the committed state (core/ingest_state.h).
// One touchpoint: Process → Apply (validation, erasure fences, the looks its
// partition's time passed) → ApplyToCustomer (its customer's working state
// in the pending commit, and their look) → Commit (dead letters, looks
// planned, PendingCommit::Batch, PartitionHandOver::Commit).
//
// Used by one thread at a time: the consumer thread, or its lane's
// (core/ingest_lanes.h).
class IngestProcessor final : public Ingest, public AlertDeliveryListener {
 public:
  // The pointers, and those of `mode`, must outlive the processor. `clock`
  // is the wall clock (for validation and latency); `mode` says where
  // rejected records, the population and the latest event time go besides
  // the store (core/ingest_mode.h).
  IngestProcessor(IngestOptions options, StateStore* store, const Clock* clock, IngestProbe* probe,
                  IngestMode mode = {});
  ~IngestProcessor() override;
  IngestProcessor(IngestProcessor&&) noexcept;

  // Loads the committed population and latest event time from the store and
  // publishes them. Call once before the first Process.
  absl::Status Load();

  // Validates and applies `records` (in order), then commits (in parts of at
  // most max_customers_per_commit customers). Rejected records go to the
  // reject sink, flushed before the commit, and their offsets advance like the
  // others. On error the part that failed is not committed (earlier parts
  // are) and the caller must resume reading from the committed offsets.
  absl::StatusOr<BatchResult> Process(const std::vector<InputRecord>& records) override {
    return ProcessOnly(records, nullptr);
  }
  // The same for the records of `only`'s indexes alone, in that order (the
  // result's indexes still count in `records`; null: all): how IngestLanes
  // gives each lane its part of a batch.
  absl::StatusOr<BatchResult> ProcessOnly(const std::vector<InputRecord>& records,
                                          const std::vector<std::size_t>* only);

  // From now on, customers are looked at as the class comment says: their
  // alert is raised or cleared (AlertEvents in the result, each also in the
  // store's outbox), all in the commit of the change. Prospects (no
  // purchase yet) are never alerted nor scheduled.
  void EnableAlerts(AlertContext context);
  // The looks due at or before `until` in the schedules in memory, counted
  // up to `cap`, and the earliest. Thread-safe.
  ScheduleBacklog Backlog(Timestamp until, std::uint64_t cap) const {
    return looks_->Backlog(until, cap);
  }

  // From now on each commit is written to the changelog of each partition it
  // touches, acknowledged, and only then committed to the store, so that the
  // store is never ahead of the changelog (see core/changelog.h).
  void EnableChangelog(ChangelogContext context);

  // Tells the processor an alert reached the alerts topic: the changelog
  // learns it at the next commit, so that a restored partition does not
  // deliver it again. Thread-safe (the alert publisher's thread).
  void AlertDelivered(const AlertEvent& alert) override;

  // With the changelog: brings `partition`'s committed state up to the end of
  // its changelog, read from just after the marker the store is at (from its
  // start when the store has nothing of the partition, or when that marker
  // is not trusted: older than 90 % of the tombstone retention, or of unknown
  // age — compaction may since have removed the tombstone of a customer
  // erased after it, who would come back; the partition's local data, and
  // its customers' undelivered alerts, are then dropped first), applying complete
  // commits only, in batches that each leave the store at a marker; then
  // begins this owner's epoch on it (a fence, and the customers whose latest
  // record was dropped written again), unless this owner wrote the latest
  // commit. Call when given the partition, before processing its records:
  // they are then read from the restored offset. `progress`, if set, is told
  // the records read so far now and then. DataLoss when a record cannot be
  // restored (undecodable, or a customer's state of another partition, not
  // superseded by a later record of the same customer; or the records after
  // the local marker are gone): the partition's local state is then dropped,
  // so that its next restore reads the changelog from its start.
  absl::StatusOr<RestoreResult> RestorePartition(
      std::int32_t partition,
      const std::function<void(std::uint64_t)>& progress = nullptr) override;

  // On the wall clock: takes up to `limit` looks due at or before now, on the
  // assigned partitions, and commits them (no offsets move). On the event
  // clock looks are taken by Process and this does nothing.
  absl::StatusOr<BatchResult> TakeDueLooks(std::size_t limit) override;

  // The partitions this instance owns now (after a rebalance): TakeDueLooks
  // looks at these only. Forgets cached states and partition progress, which
  // are read again from the store. (Process adds the partitions it sees.)
  absl::Status SetAssignment(const std::vector<std::int32_t>& partitions) override;

  // Forgets cached states (after a rebalance, the partitions' owner may change).
  void ClearCache();

  // Scale-out: the population histograms of partitions other instances own,
  // as published since the last call, take the place of what this instance
  // stored of them; the view is republished when any came.
  void TakeRemotePopulation(RemotePopulationInbox& inbox) override;
  // The population histograms of one of this instance's partitions, to publish.
  std::vector<PopulationCell> PopulationCells(std::int32_t partition) const override;
  std::uint64_t PopulationVersion(std::int32_t partition) const override;

  // Erases the customer (right to be forgotten), in one commit: their state,
  // their entries in the time and at-risk indexes, their open alert and the
  // alerts of theirs not yet delivered, and their place in the population.
  // Returns false when the customer is unknown (nothing to erase); an error
  // when the commit failed (nothing is erased then).
  absl::StatusOr<bool> Erase(const CustomerId& id);
  // The same for `request`: the commit is fsynced (StateBatch::sync) and,
  // with the changelog, acknowledged by it before it returns; and it sets an
  // erasure fence (PartitionState::erasure_fences) at `request.requested_at`
  // on the customer's partition, or on `request.partition` for a customer
  // not known yet, so that their touchpoints that occurred before it and
  // arrive later are dropped. A changelog that did not acknowledge it is an
  // error IsChangelogUnacknowledged tells.
  absl::StatusOr<bool> Erase(const ErasureRequest& request);

  // Carries out every request of `queue`, each recorded in `audit` before it
  // commits (a request that cannot be recorded is refused) and its outcome
  // after. A request the changelog did not acknowledge, or the disk could not
  // take, is answered Unavailable (nothing erased: retrying is safe) and the
  // caller goes on (a full disk is returned, to pause as for Process). Once an
  // assignment is known (SetAssignment), a request for a customer of a
  // partition not assigned here is refused (Unavailable, nothing recorded nor
  // written): its owner erases them. Returns an error only when a commit
  // failed: the caller must stop, as for Process.
  absl::Status TakeErasures(ErasureQueue& queue, AuditLog& audit) override;

  const IngestOptions& options() const { return options_; }

 private:
  // A new pending commit for the records of `input` (may be null), validated at `started`.
  std::unique_ptr<PendingCommit> NewPending(Timestamp started,
                                            const std::vector<InputRecord>* input) const;
  // Applies `record` (the `index`-th of the batch) to the pending commit.
  absl::Status Apply(std::unique_ptr<PendingCommit>& pending, std::size_t index,
                     const InputRecord& record, BatchResult& result);
  // Applies the valid touchpoint of `record` to its customer, `part` being
  // the pending commit's view of its partition at `partition_time`.
  absl::Status ApplyToCustomer(PendingCommit& pending, PendingCommit::Partition& part,
                               std::size_t index, const InputRecord& record,
                               Timestamp partition_time, BatchResult& result);
  // Takes every look due at or before `until` on `partition` (LookScheduler),
  // committing whenever the pending commit is full.
  absl::Status TakeDueLooks(std::unique_ptr<PendingCommit>& pending, std::int32_t partition,
                            Timestamp until, std::size_t* budget, BatchResult& result);
  // Commits the pending commit (its rejected records to the reject sink
  // first, its looks planned) and starts a new one.
  absl::Status Commit(std::unique_ptr<PendingCommit>& pending, BatchResult& result);
  // Sends the pending commit's rejected records to the reject sink.
  absl::Status SendRejects(const PendingCommit& pending);

  IngestOptions options_;
  const Clock* clock_;
  IngestProbe* probe_;
  RejectSink* rejects_;
  // The rooms, each with its invariant; behind pointers so that the
  // processor moves while they point at each other.
  std::unique_ptr<IngestState> state_;
  std::unique_ptr<LookScheduler> looks_;
  std::unique_ptr<PartitionHandOver> handover_;
  std::unique_ptr<Eraser> eraser_;
};

}  // namespace crm
