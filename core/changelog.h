#pragma once
// The changelog of a partition's state: what lets another instance rebuild a
// partition it is given, exactly as its previous owner left it.
//
// The owner of a partition writes, for each commit that touches it, every
// changed customer's state (key: the customer id; no value: erased), the
// alerts it raised (and, later, that they were delivered), and then
// a marker with the partition's state after the commit (next offset, event
// time...), all stamped with the owner's epoch and the commit's sequence
// number; only then is the commit made locally, so the local state is never
// ahead of the changelog. An owner's epoch is a number of its own, chosen
// when it is given the partition; before anything else of the epoch it writes
// a fence naming the commit it continues from (its parent). The topic is
// compacted: a customer's latest state stays, each epoch's latest marker
// (one key an epoch) and every fence (one key an epoch, never replaced).
//
// Without Kafka transactions, a reader must itself tell complete commits
// from the rest: an owner that died mid-commit leaves states without their
// marker, and one that lost the partition without noticing (a zombie) may go
// on writing after its successor's fence. ChangelogReplay reads a partition's
// changelog in order and yields only complete commits of the line of epochs
// that leads to the latest fence: a state is applied once the marker of its
// commit is read, or once a fence shows that its commit was continued from;
// states of commits no marker or fence vouches for (at the end of the log, or
// superseded by a fence) are dropped, and so is anything of an epoch that a
// fence has ended, written after the commit the fence continues from.
// Compaction may remove a commit's marker (its epoch's latest stays) and
// states superseded by later ones; what remains replays to the same state.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/alert_event.h"
#include "core/customer_id.h"
#include "core/customer_state.h"
#include "core/state_store.h"

namespace crm {

// A changelog write that was not acknowledged (the brokers away, a timeout):
// UNAVAILABLE, marked so that IsChangelogUnacknowledged tells it from other
// errors. Part of it may be in the changelog all the same.
inline constexpr char kChangelogUnacknowledgedPayload[] = "crm.changelog_unacknowledged";
inline absl::Status ChangelogUnacknowledged(const absl::Status& cause) {
  absl::Status status = absl::UnavailableError(cause.message());
  status.SetPayload(kChangelogUnacknowledgedPayload, absl::Cord("1"));
  return status;
}
inline bool IsChangelogUnacknowledged(const absl::Status& status) {
  return absl::IsUnavailable(status) &&
         status.GetPayload(kChangelogUnacknowledgedPayload).has_value();
}

// A marker (or, at seq 0, a fence): the partition's state after commit `at`,
// and the commit its epoch continues from (none: the partition's first epoch).
struct ChangelogMarker {
  ChangelogStamp at;
  std::optional<ChangelogStamp> parent;
  PartitionState partition;
  friend bool operator==(const ChangelogMarker&, const ChangelogMarker&) = default;
};

// One record of a partition's changelog, as read back.
struct ChangelogRecord {
  // kUnreadable: a customer's record whose state cannot be decoded (a
  // poisoned record): only its key (`customer`) and offset are known. A
  // later record of the same customer supersedes it, as compaction would.
  enum class Kind { kCustomer, kAlert, kFence, kMarker, kUnreadable };
  Kind kind = Kind::kCustomer;
  std::int64_t offset = 0;  // in the changelog partition
  // kCustomer: the customer, their state (nullopt: erased) and its commit.
  CustomerId customer;
  std::optional<CustomerState> state;
  ChangelogStamp stamp;  // kCustomer, kAlert
  // kAlert: an alert raised or cleared, to deliver (nullopt: delivered or
  // withdrawn), by its AlertDeliveryId.
  std::string alert_id;
  std::optional<AlertEvent> alert;
  // kFence, kMarker.
  ChangelogMarker marker;
};

// A complete commit, to apply in order: the customers' states (nullopt:
// erased), in changelog order, and the partition's state after it.
struct ChangelogStep {
  std::vector<std::pair<CustomerId, std::optional<CustomerState>>> customers;
  std::vector<std::pair<std::string, std::optional<AlertEvent>>> alerts;  // by AlertDeliveryId
  ChangelogMarker through;  // the marker or fence that made it certain
  std::int64_t offset = 0;  // of that marker or fence
};

// One partition's part of a commit, to write to its changelog: the changed
// customers' states (null: erased), then `marker` (the partition's state
// after the commit, at its epoch and sequence number; 0: the epoch's fence).
struct ChangelogWrite {
  std::int32_t partition = 0;
  std::vector<std::pair<const CustomerId*, const CustomerState*>> customers;
  // Their states in the store's encoding (IngestOptions::encode), aligned
  // with `customers` (null: erased); empty when the commit was not encoded.
  std::vector<const std::string*> encoded;
  // Alerts raised or cleared, to deliver (null: delivered or withdrawn
  // since), by AlertDeliveryId.
  std::vector<std::pair<std::string, const AlertEvent*>> alerts;
  PartitionState marker;
};

// Where partitions' changelogs are written (port; Kafka in production).
class ChangelogSink {
 public:
  virtual ~ChangelogSink() = default;
  // Writes each partition's customers and then its marker, in that order,
  // and returns once the brokers have acknowledged all of them: each
  // marker's offset, by partition. On error none of them may be counted on.
  virtual absl::StatusOr<std::map<std::int32_t, std::int64_t>> Write(
      const std::vector<ChangelogWrite>& writes) = 0;
};

// Where partitions' changelogs are read from (port).
class ChangelogSource {
 public:
  virtual ~ChangelogSource() = default;
  // Calls `visit` with every record of `partition`'s changelog from offset
  // `from` (nullopt: its start) up to its end as of the call, in order;
  // stops at the first error `visit` returns.
  virtual absl::Status Read(std::int32_t partition, std::optional<std::int64_t> from,
                            const std::function<absl::Status(ChangelogRecord)>& visit) = 0;
};

// Rebuilds a partition's state from its changelog (see the top of the file).
// Feed it the records from just after the local state's marker (or from the
// start, without local state) in changelog order; each Add returns the
// commits it made certain.
class ChangelogReplay {
 public:
  // `local`: the commit the local state is at, if any: its epoch is one of
  // the line (the local state is never ahead of the changelog).
  explicit ChangelogReplay(std::optional<ChangelogStamp> local);

  std::vector<ChangelogStep> Add(ChangelogRecord record);

  // The commit the replayed state is at: the local one, or the latest the
  // steps reached (nullopt: none, the partition was never written).
  std::optional<ChangelogStamp> at() const { return at_; }
  // Records read and dropped so far: states of incomplete commits, and what
  // ended epochs wrote after their end.
  std::uint64_t dropped() const { return dropped_; }
  // The customers of those records. Compaction keeps a customer's latest
  // record, so a dropped one would hide their true state from later readers:
  // the new owner writes these customers' states again in its first commit.
  const std::set<CustomerId>& orphaned() const { return orphaned_; }
  // Drops the states still waiting for a marker: call at the end of the log.
  void Finish();

 private:
  struct Epoch {
    std::optional<std::uint64_t> end;  // the last valid seq, once a fence ended the epoch
  };
  bool Valid(const ChangelogStamp& stamp) const;
  // Applies the waiting states that `through` makes certain.
  ChangelogStep Take(const ChangelogMarker& through, std::int64_t offset);
  void Drop(const ChangelogRecord& record);

  std::map<std::uint64_t, Epoch> epochs_;  // known: the line of epochs read so far
  std::optional<ChangelogStamp> at_;
  std::vector<ChangelogRecord> waiting_;  // customer records of commits not yet certain
  std::uint64_t dropped_ = 0;
  std::set<CustomerId> orphaned_;
};

}  // namespace crm
