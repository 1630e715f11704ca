// Which partitions this instance owns and whether it serves them now: the
// one place that decides whether a lookup may answer from local state.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "core/customer_id.h"
#include "core/customer_state.h"
#include "core/time.h"

namespace crm {

// Which partitions this instance owns, and which it is restoring from their
// changelogs now: a lookup must answer neither from a state still being
// rebuilt nor from one its partition's new owner has moved on from.
// Thread-safe.
class PartitionOwnership {
 public:
  void Begin(std::int32_t partition);
  void End(std::int32_t partition);
  // After each assignment: the partitions owned, of `count` (0: unknown).
  // Before the first, every local state is taken as the instance's own.
  void SetOwned(std::set<std::int32_t> owned, std::int32_t count);
  // OK when a lookup that found `state` (nullopt: nothing) for `id` may
  // answer; UNAVAILABLE, naming why, while the answer may be about to change
  // (the state's partition is being restored, or nothing was found while any
  // partition is) or is another instance's to give (the state's partition is
  // owned elsewhere, or nothing was found and this instance does not own
  // every partition).
  absl::Status CheckAnswer(const CustomerId& id, const std::optional<CustomerState>& state) const;
  // UNAVAILABLE while any partition is being restored, could not be, or is
  // owned elsewhere (a ranking of all).
  absl::Status CheckAll() const;

  // `partition` could not be restored from its changelog (`why`: which
  // record): until its next Begin (a new assignment), lookups of its
  // customers answer UNAVAILABLE naming it and why, and so does a lookup that
  // finds nothing (the customer may be among them).
  void Fail(std::int32_t partition, std::string why);

  // Whether this instance answers for `partition` now: owned (or, before any
  // assignment, taken as owned), not being restored and not failed.
  bool Serves(std::int32_t partition) const;
  // The partitions owned (nullopt: no assignment yet), and of how many.
  std::pair<std::optional<std::set<std::int32_t>>, std::int32_t> Owned() const;

  // Everything a lookup's routing reads, at one instant (taken under one
  // lock): a decision made from one snapshot never mixes two assignments, as
  // reading Owned, Serves and CheckAnswer one after the other could (a
  // rebalance between them). Its methods are those of the same names above,
  // as of the snapshot.
  struct Snapshot {
    std::optional<std::set<std::int32_t>> owned;  // nullopt: no assignment yet
    std::int32_t count = 0;                       // of how many (0: unknown)
    std::multiset<std::int32_t> restoring;        // being restored now
    std::map<std::int32_t, std::string> failed;   // could not be restored: why
    bool partitioner_mismatch = false;

    bool Serves(std::int32_t partition) const;
    absl::Status CheckAnswer(const std::optional<CustomerState>& state) const;
    absl::Status CheckAll() const;
    // Every partition owned (true before any assignment).
    bool OwnsAll() const;
  };
  // The current one, shared: taking it copies nothing (each change builds
  // the next).
  std::shared_ptr<const Snapshot> TakeSnapshot() const;
  // The partition count of the latest assignment (0: unknown).
  std::int32_t PartitionCount() const { return TakeSnapshot()->count; }

  // How current a partition's state is: touchpoints the brokers have that
  // are not applied yet (-1: unknown), and when it was last brought up to
  // date (a commit, or its assignment once restored).
  struct Progress {
    std::int64_t lag = -1;
    std::optional<Timestamp> committed_at;
  };
  void Committed(std::int32_t partition, Timestamp at);
  void SetLag(std::int32_t partition, std::int64_t lag);
  Progress ProgressOf(std::int32_t partition) const;

  // Set once an input record was seen on another partition than the
  // configured partitioner gives its key: then whose an unknown customer
  // would be cannot be told (the answer is UNAVAILABLE, not NOT_FOUND).
  void SetPartitionerMismatch();
  bool partitioner_mismatch() const { return partitioner_mismatch_.load(); }

 private:
  mutable absl::Mutex mutex_;
  std::multiset<std::int32_t> partitions_ ABSL_GUARDED_BY(mutex_);
  std::optional<std::set<std::int32_t>> owned_
      ABSL_GUARDED_BY(mutex_);  // nullopt: no assignment yet
  std::int32_t count_ ABSL_GUARDED_BY(mutex_) = 0;
  std::map<std::int32_t, Progress> progress_ ABSL_GUARDED_BY(mutex_);
  std::map<std::int32_t, std::string> failed_ ABSL_GUARDED_BY(mutex_);  // why, by partition
  // What TakeSnapshot gives: rebuilt by Publish after each change.
  std::shared_ptr<const Snapshot> snapshot_ ABSL_GUARDED_BY(mutex_) =
      std::make_shared<const Snapshot>();
  void Publish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  std::atomic<bool> partitioner_mismatch_{false};
};

}  // namespace crm
