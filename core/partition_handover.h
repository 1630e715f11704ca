#pragma once

// The hand-over of a partition from one owner to the next, through its
// changelog (core/changelog.h): writing each commit there before the store
// takes it, the owners' epochs and fences, restoring a partition given to
// this instance, and closing the alerts delivered.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/alert_event.h"
#include "core/changelog.h"
#include "core/clock.h"
#include "core/ingest_state.h"
#include "core/look_scheduler.h"
#include "core/state_store.h"

namespace crm {

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

// Makes commits durable, and partitions movable between owners.
//
// Invariant: the store is never ahead of the changelog. With a changelog
// every commit is written to the changelog of each partition it touches,
// under this owner's epoch, and acknowledged before the store takes it; a
// partition whose last write went unacknowledged is read back from its local
// checkpoint and fenced (Resync) before its next commit. Without one, Commit
// is the store's. Used by the consumer thread, but AlertDelivered.
class PartitionHandOver {
 public:
  // The pointers must outlive the hand-over.
  PartitionHandOver(IngestState* state, LookScheduler* looks, const Clock* clock);

  // From now on commits go through the changelog (IngestProcessor::EnableChangelog).
  // REQUIRES: a sink comes with a source and new_epoch.
  void Enable(ChangelogContext context);

  // Commits `batch`: to the changelog first when there is one (its
  // partitions' states, added where missing, get their sequence number and
  // marker offset), then to the store. A changelog that did not acknowledge
  // it is an error IsChangelogUnacknowledged tells.
  absl::Status Commit(StateBatch& batch);

  // Reads again the partitions whose last changelog write was not
  // acknowledged, and begins a new epoch on them: what the changelog kept of
  // that write becomes the truth here too, or is fenced off. Before any commit.
  absl::Status Resync();

  // IngestProcessor::RestorePartition.
  absl::StatusOr<RestoreResult> RestorePartition(
      std::int32_t partition, const std::function<void(std::uint64_t)>& progress);

  // An alert reached the alerts topic (or was withdrawn): closed in the
  // changelog at the next commit. Thread-safe.
  void AlertDelivered(const AlertEvent& alert) ABSL_LOCKS_EXCLUDED(delivered_mutex_);
  // Those of `alerts` not closed yet stay open (their withdrawal failed).
  void KeepOpen(const std::vector<AlertEvent>& alerts) ABSL_LOCKS_EXCLUDED(delivered_mutex_);

 private:
  // The restored customers (nullopt: erased), alerts and outbox of a restore.
  struct Restoring;

  absl::Status WriteChangelog(StateBatch& batch);
  // The changelog writes of `batch`, by partition, with the alerts delivered
  // since the last commit (taken into `delivered`).
  absl::StatusOr<std::map<std::int32_t, ChangelogWrite>> WritesOf(
      const StateBatch& batch, std::vector<AlertEvent>& delivered);
  // Begins an epoch of this owner on `partition`, continuing `parent`: writes
  // its fence and commits the partition's state at it.
  absl::Status StartEpoch(std::int32_t partition, std::optional<ChangelogStamp> parent);
  // Commits what `restoring` gathered of `partition` (a customer written
  // twice: the later state stands), and the partition's state at the last
  // marker read.
  absl::Status FlushRestored(std::int32_t partition, Restoring& restoring, RestoreResult& result);
  // Commits `customers` (restored; nullopt: erased) of `partition`, and the
  // partition's state at the last marker read. The alerts of `restoring`:
  // raised ones join the outbox, delivered ones leave it.
  absl::Status CommitRestored(
      std::int32_t partition,
      const std::vector<std::pair<CustomerId, std::optional<CustomerState>>>& customers,
      Restoring& restoring);
  // Reads `partition`'s changelog from `from` into `restoring`, committing as it goes.
  absl::Status ReadChangelog(std::int32_t partition, std::optional<std::int64_t> from,
                             Restoring& restoring, RestoreResult& result,
                             const std::function<void(std::uint64_t)>& progress);
  // Whether `partition`'s local checkpoint can be replayed from (see
  // RestorePartition); else drops what the store holds of the partition.
  absl::Status DropUntrustedCheckpoint(std::int32_t partition, bool* dropped);
  // A partition that cannot be restored keeps nothing of the restore:
  // `status`, after dropping its local data when it is DataLoss.
  absl::Status GiveUp(std::int32_t partition, absl::Status status);
  // Writes again the customers the replay dropped the latest record of.
  absl::Status RewriteOrphaned(std::int32_t partition, const std::set<CustomerId>& orphaned);
  // The partition `id` belongs to here, if this instance knows them.
  absl::StatusOr<std::optional<std::int32_t>> PartitionOfCustomer(
      const CustomerId& id, const std::unordered_map<CustomerId, std::int32_t>& in_batch);

  IngestState* state_;
  LookScheduler* looks_;
  const Clock* clock_;
  ChangelogContext changelog_;
  std::set<std::int32_t> unsure_;  // their last changelog write unacknowledged (Resync)
  absl::Mutex delivered_mutex_;
  // Alerts delivered, not yet closed in the changelog.
  std::vector<AlertEvent> delivered_ ABSL_GUARDED_BY(delivered_mutex_);
};

}  // namespace crm
