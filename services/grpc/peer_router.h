#pragma once

// Where the answer for one customer comes from: this instance's committed
// state, another instance (the owner of the customer's partition), or
// nowhere now (an error that says why). The decision is a pure function of
// one read of the store, one snapshot of this instance's ownership and one
// snapshot of the cluster: no rebalance can slip between two of its reads.
// No gRPC here: errors are absl::Status, converted at the edge.

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "core/clock.h"
#include "core/cluster.h"
#include "core/customer_state.h"
#include "core/partition_ownership.h"
#include "core/shared_states.h"
#include "core/state_store.h"

namespace crm {

// The partition of a key, of `count`, by the producers' partitioner.
using PartitionOf = std::function<std::int32_t(std::string_view key, std::int32_t count)>;

// The cluster at one instant: this instance's name and the members live then.
struct ClusterSnapshot {
  std::string self;
  std::vector<ClusterMember> members;  // live at the snapshot's time

  // ClusterView's members live at `now`, and its name for this instance.
  static ClusterSnapshot Of(const ClusterView& view, Timestamp now);
  // As ClusterView::OwnerOf: the member claiming `partition`; when several do,
  // the latest to publish its claim.
  std::optional<ClusterMember> OwnerOf(std::int32_t partition) const;
  // As ClusterView::PartitionCount: the input's partition count as the
  // members last saw it (0: none said).
  std::int32_t PartitionCount() const;
};

// Whether calls may be forwarded to a member: a peer verified by TLS (its
// instance name one a certificate can hold), on loopback, or any with
// `insecure_peers`.
struct PeerPolicy {
  bool peers_verified = false;  // TLS against the operator's CA (--peer-tls-ca)
  bool insecure_peers = false;  // --allow-insecure-peers

  bool Verified(const ClusterMember& member) const;
  // UNAVAILABLE saying why nothing is forwarded to `member`.
  absl::Status Unverified(const ClusterMember& member) const;
};

// Whether `instance` can be checked against a certificate as gRPC checks a
// hostname: a DNS name or an IP address, optionally with a port. Anything
// else (spaces, control or non-ASCII bytes, a NUL that would cut the name
// short) is never sent to the TLS layer.
bool CertificateName(std::string_view instance);
// Whether `address` (HOST:PORT) is on this machine's loopback interface.
bool LoopbackAddress(std::string_view address);

struct Route {
  enum class Kind { kHere, kForward, kAnswered } kind = Kind::kAnswered;
  absl::Status status;                 // kAnswered: the answer (NOT_FOUND, UNAVAILABLE, …)
  std::optional<CustomerState> state;  // kHere
  // The customer's partition: their state's when known, else their key's by
  // the partitioner (when the partition count is known; -1 otherwise). An
  // erasure carries it as the hint of where the customer is (or will be).
  std::int32_t partition = -1;
  ClusterMember owner;  // kForward
};

// What one routing decision reads besides the snapshots.
struct RouteQuestion {
  const std::string& raw_id;  // REQUIRES: passed ValidateCustomerId
  // The store's answer for the customer (nullopt: unknown here).
  const std::optional<CustomerState>& stored;
  // Forwarded by another instance: answered here, never forwarded again.
  bool forwarded = false;
};

// The decision. `ownership` null: this instance answers alone for whatever
// it stores (NOT_FOUND otherwise). `cluster` null: no other instance exists.
// Here when this instance serves the customer's partition (owned, not being
// restored nor failed; before any assignment, unless another claims it);
// forwarded to the partition's live owner when another instance claims it
// (UNAVAILABLE when that owner cannot be verified); else NOT_FOUND for a
// customer unknown on a partition served here (UNAVAILABLE when records come
// on other partitions than the partitioner says), or UNAVAILABLE naming why
// (PartitionOwnership::Snapshot::CheckAnswer).
Route DecideRoute(const RouteQuestion& question, const PartitionOwnership::Snapshot* ownership,
                  const ClusterSnapshot* cluster, const PartitionOf& partition_of,
                  const PeerPolicy& policy);

// Whether DecideRoute, given `ownership`, reads anything of the cluster for
// `question`: the partition count when the ownership does not know it, the
// partition's claimed owner when the partition is not served here or no
// assignment came yet (and the call was not forwarded). When it does not,
// DecideRoute answers the same with an empty ClusterSnapshot: a lookup
// served here takes no snapshot of the cluster.
bool NeedsCluster(const RouteQuestion& question, const PartitionOwnership::Snapshot& ownership,
                  const PartitionOf& partition_of);

// Routes lookups on the live ownership and cluster. Thread-safe.
class PeerRouter {
 public:
  struct Options {
    const PartitionOwnership* ownership = nullptr;  // null: this instance answers alone
    const SharedStates* shared_states = nullptr;    // null: every read from the store
    const ClusterView* cluster = nullptr;           // null: no other instance
    PartitionOf partition_of;                       // null: unknown customers unplaced
    PeerPolicy policy;
  };
  // `clock` tells which members are live ("now" of the cluster's records).
  // REQUIRES: the pointers and `clock` outlive the router.
  PeerRouter(Options options, const Clock& clock) : options_(std::move(options)), clock_(clock) {}

  // The customer's committed state from the shared states when there (no
  // read of the store), else one read of `store` for `raw_id`, the partition
  // of their key tried first (the hinted single read: at most one partition
  // holds a customer); then
  // DecideRoute on one snapshot of the ownership and one of the cluster, both
  // taken after the read (the cluster's only when NeedsCluster). REQUIRES:
  // `raw_id` passed ValidateCustomerId.
  Route Locate(StateStore& store, const std::string& raw_id, bool forwarded) const;
  // The partition of `raw_id`'s key tried first by Locate (nullopt: no hint,
  // before any partition count is known).
  std::optional<std::int32_t> Hint(std::string_view raw_id) const;
  // Locate's read: the shared states' copy, else the store's.
  absl::StatusOr<std::optional<CustomerState>> Read(StateStore& store,
                                                    const std::string& raw_id) const;

  // The ownership now (null: this instance answers alone).
  std::shared_ptr<const PartitionOwnership::Snapshot> Ownership() const;
  // The cluster now (null: no other instance).
  std::optional<ClusterSnapshot> Cluster() const;
  const PeerPolicy& policy() const { return options_.policy; }

 private:
  const Options options_;
  const Clock& clock_;
  // The partition count last seen, for the hint only (a wrong hint costs
  // reads, never a wrong answer).
  mutable std::atomic<std::int32_t> hint_count_{0};
};

}  // namespace crm
