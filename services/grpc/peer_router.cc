#include "services/grpc/peer_router.h"

#include <algorithm>
#include <utility>

#include "core/check.h"
#include "services/codec/state_codec.h"
#include "services/grpc/requests.h"  // Quoted

namespace crm {

ClusterSnapshot ClusterSnapshot::Of(const ClusterView& view, Timestamp now) {
  return {.self = view.self(), .members = view.Members(now)};
}

std::optional<ClusterMember> ClusterSnapshot::OwnerOf(std::int32_t partition) const {
  const ClusterMember* owner = nullptr;
  for (const ClusterMember& member : members) {
    if (!member.partitions.contains(partition)) continue;
    if (owner == nullptr || member.published_at > owner->published_at) owner = &member;
  }
  if (owner == nullptr) return std::nullopt;
  return *owner;
}

std::int32_t ClusterSnapshot::PartitionCount() const {
  std::int32_t count = 0;
  for (const ClusterMember& member : members) count = std::max(count, member.partition_count);
  return count;
}

bool CertificateName(std::string_view instance) {
  if (instance.empty() || instance.size() > kMaxInstanceBytes) return false;
  return std::all_of(instance.begin(), instance.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == ':' || c == '[' || c == ']';
  });
}

bool LoopbackAddress(std::string_view address) {
  std::string_view host = address.substr(0, address.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

bool PeerPolicy::Verified(const ClusterMember& member) const {
  if (peers_verified) return CertificateName(member.instance);
  return insecure_peers || LoopbackAddress(member.address);
}

absl::Status PeerPolicy::Unverified(const ClusterMember& member) const {
  if (peers_verified) {
    return absl::UnavailableError(
        "the owner " + Quoted(member.instance) + " at " + Quoted(member.address) +
        " cannot be verified: its instance name cannot be a certificate's name (letters, "
        "digits, '-', '.', '_', ':', '[', ']'); nothing is forwarded to it");
  }
  return absl::UnavailableError("the owner " + Quoted(member.instance) + " at " +
                                Quoted(member.address) +
                                " cannot be verified (plaintext, not loopback): nothing is "
                                "forwarded to it; serve gRPC over TLS with --peer-tls-ca, or pass "
                                "--allow-insecure-peers");
}

namespace {

Route NotFound(const std::string& raw_id, std::int32_t partition) {
  Route route;
  route.partition = partition;
  route.status = absl::NotFoundError("unknown customer " + Quoted(raw_id));
  return route;
}

Route Here(const CustomerState& state) {
  Route route;
  route.kind = Route::Kind::kHere;
  route.partition = state.partition;
  route.state = state;
  return route;
}

}  // namespace

Route DecideRoute(const RouteQuestion& question, const PartitionOwnership::Snapshot* ownership,
                  const ClusterSnapshot* cluster, const PartitionOf& partition_of,
                  const PeerPolicy& policy) {
  const std::optional<CustomerState>& stored = question.stored;
  if (ownership == nullptr) {
    return stored ? Here(*stored) : NotFound(question.raw_id, -1);
  }
  Route route;
  if (stored) route.partition = stored->partition;
  const std::int32_t count = ownership->count > 0 ? ownership->count
                             : cluster != nullptr ? cluster->PartitionCount()
                                                  : 0;
  if (route.partition < 0 && count > 0 && partition_of) {
    route.partition = partition_of(question.raw_id, count);
  }
  bool served = route.partition >= 0 && ownership->Serves(route.partition);
  // The claimed owner, when it matters: the partition is not served here, or
  // no assignment came yet (every local state is then taken as this
  // instance's own, unless another claims it).
  std::optional<ClusterMember> owner;
  if ((!served || !ownership->owned) && !question.forwarded && cluster != nullptr &&
      route.partition >= 0) {
    owner = cluster->OwnerOf(route.partition);
    if (owner && owner->instance == cluster->self) owner.reset();
  }
  served = served && (ownership->owned || !owner);
  if (served && (stored || !ownership->partitioner_mismatch)) {
    return stored ? Here(*stored) : NotFound(question.raw_id, route.partition);
  }
  if (!served && owner) {
    if (!policy.Verified(*owner)) {
      route.status = policy.Unverified(*owner);
      return route;
    }
    route.kind = Route::Kind::kForward;
    route.owner = std::move(*owner);
    return route;
  }
  if (absl::Status answer = ownership->CheckAnswer(stored); !answer.ok()) {
    std::string why(answer.message());
    if (cluster != nullptr && !served) {
      why += question.forwarded
                 ? " (asked by another instance, which took this one for the owner)"
                 : "; no instance claims partition " + std::to_string(route.partition) + " now";
    }
    route.status = absl::UnavailableError(why);
    return route;
  }
  return stored ? Here(*stored) : NotFound(question.raw_id, route.partition);
}

bool NeedsCluster(const RouteQuestion& question, const PartitionOwnership::Snapshot& ownership,
                  const PartitionOf& partition_of) {
  if (ownership.count <= 0) return true;
  if (question.forwarded) return false;
  const std::int32_t partition = question.stored ? question.stored->partition
                                 : partition_of  ? partition_of(question.raw_id, ownership.count)
                                                 : -1;
  return partition >= 0 && (!ownership.owned || !ownership.Serves(partition));
}

std::optional<std::int32_t> PeerRouter::Hint(std::string_view raw_id) const {
  const std::int32_t count = hint_count_.load(std::memory_order_relaxed);
  if (count <= 0 || !options_.partition_of) return std::nullopt;
  return options_.partition_of(raw_id, count);
}

std::shared_ptr<const PartitionOwnership::Snapshot> PeerRouter::Ownership() const {
  if (options_.ownership == nullptr) return nullptr;
  return options_.ownership->TakeSnapshot();
}

std::optional<ClusterSnapshot> PeerRouter::Cluster() const {
  if (options_.cluster == nullptr) return std::nullopt;
  return ClusterSnapshot::Of(*options_.cluster, clock_.Now());
}

absl::StatusOr<std::optional<CustomerState>> PeerRouter::Read(StateStore& store,
                                                              const std::string& raw_id) const {
  const CustomerId id(raw_id);
  if (options_.shared_states != nullptr) {
    if (std::shared_ptr<const std::string> encoded = options_.shared_states->Find(id)) {
      absl::StatusOr<CustomerState> state = DecodeState(*encoded);
      CRM_CHECK(state.ok());  // encoded by this process a moment ago
      return std::optional<CustomerState>(*std::move(state));
    }
  }
  return store.Find(id, Hint(raw_id));
}

Route PeerRouter::Locate(StateStore& store, const std::string& raw_id, bool forwarded) const {
  auto stored = Read(store, raw_id);
  if (!stored.ok()) {
    Route route;
    route.status = stored.status();
    return route;
  }
  // Taken after the read: a partition revoked since is seen as revoked.
  const std::shared_ptr<const PartitionOwnership::Snapshot> ownership = Ownership();
  const RouteQuestion question{.raw_id = raw_id, .stored = *stored, .forwarded = forwarded};
  std::optional<ClusterSnapshot> cluster;
  if (ownership && options_.cluster != nullptr) {
    // Served here (the usual case): the cluster is not read at all.
    cluster =
        NeedsCluster(question, *ownership, options_.partition_of) ? Cluster() : ClusterSnapshot();
  }
  if (ownership) {
    const std::int32_t count = ownership->count > 0 ? ownership->count
                               : cluster            ? cluster->PartitionCount()
                                                    : 0;
    hint_count_.store(count, std::memory_order_relaxed);
  }
  return DecideRoute(question, ownership.get(), cluster ? &*cluster : nullptr,
                     options_.partition_of, options_.policy);
}

}  // namespace crm
