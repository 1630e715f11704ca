#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "core/alerts.h"
#include "core/board.h"
#include "core/changelog.h"
#include "core/clock.h"
#include "core/customer_state.h"
#include "core/erasure.h"
#include "core/ingest_probe.h"
#include "core/parallel_loop.h"
#include "core/population.h"
#include "core/reject_sink.h"
#include "core/scorer.h"
#include "core/state_cache.h"
#include "core/state_store.h"
#include "core/touchpoint.h"
#include "core/validation.h"

namespace crm {

// One record read from the input topic, decoded at the service's edge: a
// touchpoint, or the reason it could not be decoded.
struct InputRecord {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::string key;
  std::string_view value;  // the original bytes, valid while the batch is processed
  std::variant<Touchpoint, Rejection> payload;
};

struct RejectedRecord {
  std::size_t index = 0;  // into the batch passed to Process
  Rejection rejection;
};

struct BatchResult {
  std::size_t applied = 0;
  std::size_t duplicates = 0;
  std::vector<RejectedRecord> rejected;
  std::vector<AlertEvent> alerts;  // with EnableAlerts
  std::size_t rescored = 0;        // looks taken from the time index
  std::size_t erased = 0;          // dropped: their customer was erased after they occurred
};

// What alert evaluation needs: the model in use and the policy.
struct AlertContext {
  const Board<Scorer>* scorers = nullptr;
  const AlertPolicy* policy = nullptr;
  // The wall clock, up to which RescoreDue takes the looks due (--clock
  // wall). Null: the event clock, on which each partition's looks are taken
  // as its own event time (its watermark) passes them, between its records.
  const Clock* clock = nullptr;
};

// Where the partitions' changelogs are written and read (core/changelog.h),
// and where a new epoch's number comes from (unique: e.g. random).
struct ChangelogContext {
  ChangelogSink* sink = nullptr;
  ChangelogSource* source = nullptr;
  std::function<std::uint64_t()> new_epoch;
  // Called before restored alerts join the outbox (their previous owner may
  // have delivered some: the publisher looks at the topic again). May be empty.
  std::function<void()> alerts_restored;
  // How long the changelog topic keeps a tombstone after compaction reached
  // it (its delete.retention.ms, Kafka's default 24 h): a local checkpoint
  // older than 90 % of it is not trusted, since an erasure after it may be
  // gone from the changelog (RestorePartition).
  Micros tombstone_retention = std::chrono::hours(24);
};

// What RestorePartition did.
struct RestoreResult {
  std::uint64_t records = 0;    // changelog records read
  std::uint64_t commits = 0;    // complete commits applied
  std::uint64_t customers = 0;  // customer states applied (erasures included)
  std::uint64_t dropped = 0;    // records of incomplete or superseded commits
  std::uint64_t rewritten = 0;  // customers written again (their latest record was dropped)
  bool new_epoch = false;       // a fence was written: this owner's epoch began
  // The local checkpoint was not trusted: the partition's local data was
  // dropped and the changelog read from its start.
  bool from_start = false;
};

struct IngestOptions {
  std::string topic = "crm.touchpoints";  // whose offsets are committed
  StateLimits limits;
  ValidationLimits validation;
  std::size_t cache_entries = 100'000;  // customers' states kept in memory
  // The most bytes those states may hold (StateBytes); 0: bounded by entries only.
  std::size_t cache_bytes = 512ull << 20;
  // Customers changed by one commit at most: a larger poll batch, or a jump of
  // event time that makes many customers due at once, is committed in parts.
  std::size_t max_customers_per_commit = 10'000;
  // Threads besides the caller's that plan customers' next looks (the costly
  // part of a look) at each commit; 0 plans them on the caller's thread.
  int planning_threads = 0;
  // How long an erasure fence is kept: the input topic's retention, past
  // which no touchpoint from before the erasure can arrive any more.
  Micros erasure_fence_ttl = std::chrono::hours(24 * 7);
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
// Used by the consumer thread only.
class IngestProcessor {
 public:
  // The pointers must outlive the processor. `clock` is the wall clock (for
  // validation and latency); `rejects` may be null (rejected records are then
  // only counted); `population` too (the population is then kept but not
  // published); `event_clock` too (told the latest event time applied, after
  // each commit).
  IngestProcessor(IngestOptions options, StateStore* store, const Clock* clock, IngestProbe* probe,
                  RejectSink* rejects, PopulationBoard* population = nullptr,
                  EventClock* event_clock = nullptr);
  ~IngestProcessor();
  IngestProcessor(IngestProcessor&&) noexcept;

  // Loads the committed population and latest event time from the store and
  // publishes them. Call once before the first Process.
  absl::Status Load();

  // Validates and applies `records` (in order), then commits (in parts of at
  // most max_customers_per_commit customers). Rejected records go to the
  // reject sink, flushed before the commit, and their offsets advance like the
  // others. On error the part that failed is not committed (earlier parts
  // are) and the caller must resume reading from the committed offsets.
  absl::StatusOr<BatchResult> Process(const std::vector<InputRecord>& records);

  // From now on, customers are looked at as the class comment says: their
  // alert is raised or cleared (AlertEvents in the result; raised ones also go
  // to the store's outbox), all in the commit of the change. Prospects (no
  // purchase yet) are never alerted nor scheduled.
  void EnableAlerts(AlertContext context) { alerts_ = context; }

  // From now on each commit is written to the changelog of each partition it
  // touches, acknowledged, and only then committed to the store, so that the
  // store is never ahead of the changelog (see core/changelog.h).
  void EnableChangelog(ChangelogContext context) { changelog_ = std::move(context); }

  // Tells the processor an alert reached the alerts topic: the changelog
  // learns it at the next commit, so that a restored partition does not
  // deliver it again. Thread-safe (the alert publisher's thread).
  void AlertDelivered(const AlertEvent& alert);

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
      std::int32_t partition, const std::function<void(std::uint64_t)>& progress = nullptr);

  // On the wall clock: takes up to `limit` looks due at or before now, on the
  // assigned partitions, and commits them (no offsets move). On the event
  // clock looks are taken by Process and this does nothing.
  absl::StatusOr<BatchResult> RescoreDue(std::size_t limit);

  // The partitions this instance owns now (after a rebalance): RescoreDue
  // looks at these only. Forgets cached states and partition progress, which
  // are read again from the store. (Process adds the partitions it sees.)
  absl::Status SetAssignment(const std::vector<std::int32_t>& partitions);

  // Forgets cached states (after a rebalance, the partitions' owner may change).
  void ClearCache();

  // Scale-out: the population histograms of partitions other instances own,
  // as published since the last call, take the place of what this instance
  // stored of them; the view is republished when any came.
  void TakeRemotePopulation(RemotePopulationInbox& inbox);
  // The population histograms of one of this instance's partitions, to publish.
  std::vector<PopulationCell> PopulationCells(std::int32_t partition) const {
    return population_.Cells(partition);
  }
  std::uint64_t PopulationVersion(std::int32_t partition) const {
    return population_.Version(partition);
  }

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
  absl::Status TakeErasures(ErasureQueue& queue, AuditLog& audit);

  const IngestOptions& options() const { return options_; }

  struct Chunk;  // one commit in the making (ingest_processor.cc)

 private:
  // A new chunk for the records of `input` (may be null), validated at `started`.
  std::unique_ptr<Chunk> NewChunk(Timestamp started, const std::vector<InputRecord>* input);
  // The partition's state as committed, read once from the store.
  absl::StatusOr<PartitionState> CommittedPartition(std::int32_t partition);
  // Takes every look due at or before `until` on `partition`, in time order,
  // committing when the chunk is full; `budget` (may be null) bounds them.
  absl::Status TakeDueLooks(std::unique_ptr<Chunk>& chunk, std::int32_t partition, Timestamp until,
                            std::size_t* budget, BatchResult& result);
  // After the chunk's commit: where each partition's committed time index
  // may start now.
  void MoveDueFloors(const Chunk& chunk);
  // Commits the chunk and starts a new one.
  absl::Status Flush(std::unique_ptr<Chunk>& chunk, BatchResult& result);
  // Commits `batch`: to the changelog first when there is one (WriteChangelog),
  // then to the store.
  absl::Status CommitDurably(StateBatch& batch);
  // Writes `batch` to the changelog: the next commit of each partition it
  // touches (their states in `batch.partitions`, added where missing, get
  // their sequence number and marker offset).
  absl::Status WriteChangelog(StateBatch& batch);
  // Begins an epoch of this owner on `partition`, continuing `parent`: writes
  // its fence and commits the partition's state at it.
  absl::Status StartEpoch(std::int32_t partition, std::optional<ChangelogStamp> parent);
  // Commits restored customers of `partition`, and the partition's state at
  // `through` (the marker at changelog offset `offset`).
  // `alerts`: raised ones join the outbox, delivered ones leave it;
  // `outbox` maps the outbox's alert ids to their sequence numbers.
  absl::Status CommitRestored(
      std::int32_t partition,
      const std::vector<std::pair<CustomerId, std::optional<CustomerState>>>& customers,
      const std::map<std::string, std::optional<AlertEvent>>& alerts,
      std::map<std::string, std::uint64_t>& outbox, const ChangelogMarker& through,
      std::int64_t offset, Timestamp read_from);
  // Reads again, from the local checkpoint, the partitions whose last
  // changelog write was not acknowledged (unsure_), and begins a new epoch
  // on them: what the changelog kept of that write becomes the truth here
  // too, or is fenced off. Before any commit.
  absl::Status Resync();
  // Adds a fence for `id_hash` at `erased_at` to `state`, forgetting those
  // past erasure_fence_ttl (and the oldest beyond kMaxErasureFences).
  void AddErasureFence(PartitionState& state, std::uint64_t id_hash, Timestamp erased_at) const;
  // Whether `partition`'s local checkpoint can be replayed from (see
  // RestorePartition); else drops what the store holds of the partition.
  absl::Status DropUntrustedCheckpoint(std::int32_t partition, bool* dropped);
  // Plans the next look of every customer of the chunk looked at since their
  // last plan, on the planning threads.
  void PlanLooks(Chunk& chunk);
  bool event_clock_looks() const { return alerts_.scorers != nullptr && alerts_.clock == nullptr; }

  IngestOptions options_;
  StateStore* store_;
  const Clock* clock_;
  IngestProbe* probe_;
  RejectSink* rejects_;
  PopulationBoard* board_;
  AlertContext alerts_;
  ChangelogContext changelog_;
  // Alerts delivered, not yet closed in the changelog (AlertDelivered).
  struct Delivered {
    std::mutex mutex;
    std::vector<AlertEvent> alerts;  // guarded by mutex
  };
  std::unique_ptr<Delivered> delivered_ = std::make_unique<Delivered>();
  EventClock* event_clock_;
  std::optional<Timestamp> latest_event_;  // committed
  std::uint64_t next_alert_ = 0;           // outbox sequence
  StateCache cache_;
  Population population_;
  std::map<std::int32_t, PartitionState> partitions_;  // committed, as read or written
  // Per partition, a time no committed time-index entry is earlier than (as
  // learnt from the reads and commits since the cache was last cleared):
  // reads start there, past the deletions of looks taken, and are not made
  // at all until it is due.
  std::map<std::int32_t, Timestamp> due_floor_;
  std::set<std::int32_t> assigned_;
  std::set<std::int32_t> unsure_;  // their last changelog write unacknowledged (Resync)
  bool assignment_known_ = false;  // SetAssignment was called: assigned_ is the truth
  // OK when `request`'s customer belongs to a partition this instance owns
  // (or no assignment is known yet); Unavailable otherwise.
  absl::Status CheckOwned(const ErasureRequest& request);
  std::unique_ptr<ParallelLoop> planners_;
};

}  // namespace crm
