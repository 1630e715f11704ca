#pragma once

// Scale-out: the instances of one consumer group, as each learns them from
// the cluster topic. Kafka decides who owns which input partition; each
// instance publishes what it was given (once restored) and where its gRPC
// service is, and a lookup that reaches an instance not owning the
// customer's partition is forwarded to the one that does. A claim is only
// ever a hint: the owner checks its own assignment before answering, so a
// stale claim costs an UNAVAILABLE, never a wrong answer.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/time.h"

namespace crm {

struct ClusterMember {
  std::string instance;
  std::string address;  // its gRPC service, host:port
  std::set<std::int32_t> partitions;
  std::int32_t partition_count = 0;
  Timestamp published_at{};
};

// What a member record read from the cluster topic may hold: anyone who can
// write to the topic can write one, so each is checked before it is trusted.
inline constexpr std::size_t kMaxInstanceBytes = 256;
inline constexpr std::size_t kMaxAddressBytes = 512;
inline constexpr std::int32_t kMaxPartitionCount = 1 << 16;

// Why `member`, read under the key of `key_instance`, is not to be trusted
// (an empty string when it is): a payload naming another instance than its
// key, an empty or oversized name or address, an address without a port, a
// partition count outside [1, kMaxPartitionCount], a claimed partition
// outside [0, partition_count).
std::string ClusterMemberProblem(std::string_view key_instance, const ClusterMember& member);

// Thread-safe: the cluster topic's reader updates it, gRPC threads read it.
class ClusterView {
 public:
  // A member not heard of for `ttl` (its heartbeats stopped: killed, cut
  // off) is taken as gone.
  ClusterView(std::string self, Micros ttl) : self_(std::move(self)), ttl_(ttl) {}

  // This instance's name (once its gRPC port is known).
  std::string self() const {
    absl::MutexLock lock(&mutex_);
    return self_;
  }
  void SetSelf(std::string self) {
    absl::MutexLock lock(&mutex_);
    self_ = std::move(self);
  }
  // Takes `member`'s claim, read at `now`: a publication time later than
  // `now` (a clock ahead, or a forged record that would win every conflict)
  // counts as `now`. A publication older than the one known is ignored.
  // Members silent for longer than the ttl are forgotten on the way.
  void Update(ClusterMember member, Timestamp now);
  void Remove(const std::string& instance);
  // Forgets the members not heard of for longer than the ttl.
  void Prune(Timestamp now);
  // A record of the cluster topic was not trusted (see ClusterMemberProblem,
  // PublishedCellsProblem); how many since the start, for the metrics.
  void CountIgnoredRecord() { ignored_records_.fetch_add(1); }
  std::uint64_t ignored_records() const { return ignored_records_.load(); }

  // The live member claiming `partition`; when several do (a rebalance under
  // way, an old owner not heard of since), the latest to publish its claim.
  std::optional<ClusterMember> OwnerOf(std::int32_t partition, Timestamp now) const;
  // The input's partition count as the live members last saw it (0: none
  // said), for an instance not assigned any partition yet.
  std::int32_t PartitionCount(Timestamp now) const;
  // The live members, this instance included when it published.
  std::vector<ClusterMember> Members(Timestamp now) const;

 private:
  bool Live(const ClusterMember& member, Timestamp now) const;
  void PruneLocked(Timestamp now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  mutable absl::Mutex mutex_;
  std::string self_ ABSL_GUARDED_BY(mutex_);
  const Micros ttl_;
  std::map<std::string, ClusterMember> members_ ABSL_GUARDED_BY(mutex_);
  std::atomic<std::uint64_t> ignored_records_{0};
};

}  // namespace crm
