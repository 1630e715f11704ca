#pragma once

// Scale-out: the instances of one consumer group, as each learns them from
// the cluster topic. Kafka decides who owns which input partition; each
// instance publishes what it was given (once restored) and where its gRPC
// service is, and a lookup that reaches an instance not owning the
// customer's partition is forwarded to the one that does. A claim is only
// ever a hint: the owner checks its own assignment before answering, so a
// stale claim costs an UNAVAILABLE, never a wrong answer.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/time.h"

namespace crm {

struct ClusterMember {
  std::string instance;
  std::string address;  // its gRPC service, host:port
  std::set<std::int32_t> partitions;
  std::int32_t partition_count = 0;
  Timestamp published_at{};
};

// Thread-safe: the cluster topic's reader updates it, gRPC threads read it.
class ClusterView {
 public:
  // A member not heard of for `ttl` (its heartbeats stopped: killed, cut
  // off) is taken as gone.
  ClusterView(std::string self, Micros ttl) : self_(std::move(self)), ttl_(ttl) {}

  // This instance's name (once its gRPC port is known).
  std::string self() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return self_;
  }
  void SetSelf(std::string self) {
    std::lock_guard<std::mutex> lock(mutex_);
    self_ = std::move(self);
  }
  void Update(ClusterMember member);
  void Remove(const std::string& instance);

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

  mutable std::mutex mutex_;
  std::string self_;  // guarded by mutex_
  const Micros ttl_;
  std::map<std::string, ClusterMember> members_;  // guarded by mutex_
};

}  // namespace crm
