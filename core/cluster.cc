#include "core/cluster.h"

#include <algorithm>

namespace crm {

void ClusterView::Update(ClusterMember member) {
  std::lock_guard<std::mutex> lock(mutex_);
  ClusterMember& known = members_[member.instance];
  // Publications of one instance come in order, but a restarted one may be
  // read after its predecessor's last: the later publication wins.
  if (member.published_at >= known.published_at) known = std::move(member);
}

void ClusterView::Remove(const std::string& instance) {
  std::lock_guard<std::mutex> lock(mutex_);
  members_.erase(instance);
}

bool ClusterView::Live(const ClusterMember& member, Timestamp now) const {
  return member.published_at + ttl_ >= now;
}

std::optional<ClusterMember> ClusterView::OwnerOf(std::int32_t partition, Timestamp now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const ClusterMember* owner = nullptr;
  for (const auto& [instance, member] : members_) {
    if (!Live(member, now) || !member.partitions.contains(partition)) continue;
    if (owner == nullptr || member.published_at > owner->published_at) owner = &member;
  }
  if (owner == nullptr) return std::nullopt;
  return *owner;
}

std::int32_t ClusterView::PartitionCount(Timestamp now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::int32_t count = 0;
  for (const auto& [instance, member] : members_) {
    if (Live(member, now)) count = std::max(count, member.partition_count);
  }
  return count;
}

std::vector<ClusterMember> ClusterView::Members(Timestamp now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<ClusterMember> live;
  for (const auto& [instance, member] : members_) {
    if (Live(member, now)) live.push_back(member);
  }
  return live;
}

}  // namespace crm
