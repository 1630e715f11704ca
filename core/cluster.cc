#include "core/cluster.h"

#include <algorithm>

namespace crm {

std::string ClusterMemberProblem(std::string_view key_instance, const ClusterMember& member) {
  if (member.instance != key_instance) return "its payload names another instance than its key";
  if (member.instance.empty() || member.instance.size() > kMaxInstanceBytes) {
    return "its instance name is empty or longer than " + std::to_string(kMaxInstanceBytes) +
           " bytes";
  }
  const std::size_t colon = member.address.rfind(':');
  if (member.address.size() > kMaxAddressBytes || colon == std::string::npos || colon == 0 ||
      colon + 1 == member.address.size()) {
    return "its gRPC address is not HOST:PORT";
  }
  if (member.partition_count < 1 || member.partition_count > kMaxPartitionCount) {
    return "its partition count is outside [1, " + std::to_string(kMaxPartitionCount) + "]";
  }
  for (std::int32_t p : member.partitions) {
    if (p < 0 || p >= member.partition_count) {
      return "it claims partition " + std::to_string(p) + " of " +
             std::to_string(member.partition_count);
    }
  }
  return "";
}

void ClusterView::Update(ClusterMember member, Timestamp now) {
  absl::MutexLock lock(&mutex_);
  member.published_at = std::min(member.published_at, now);
  PruneLocked(now);
  ClusterMember& known = members_[member.instance];
  // Publications of one instance come in order, but a restarted one may be
  // read after its predecessor's last: the later publication wins.
  if (member.published_at >= known.published_at) known = std::move(member);
}

void ClusterView::Remove(const std::string& instance) {
  absl::MutexLock lock(&mutex_);
  members_.erase(instance);
}

void ClusterView::Prune(Timestamp now) {
  absl::MutexLock lock(&mutex_);
  PruneLocked(now);
}

void ClusterView::PruneLocked(Timestamp now) {
  std::erase_if(members_, [&](const auto& entry) { return !Live(entry.second, now); });
}

bool ClusterView::Live(const ClusterMember& member, Timestamp now) const {
  return member.published_at + ttl_ >= now;
}

std::optional<ClusterMember> ClusterView::OwnerOf(std::int32_t partition, Timestamp now) const {
  absl::MutexLock lock(&mutex_);
  const ClusterMember* owner = nullptr;
  for (const auto& [instance, member] : members_) {
    if (!Live(member, now) || !member.partitions.contains(partition)) continue;
    if (owner == nullptr || member.published_at > owner->published_at) owner = &member;
  }
  if (owner == nullptr) return std::nullopt;
  return *owner;
}

std::int32_t ClusterView::PartitionCount(Timestamp now) const {
  absl::MutexLock lock(&mutex_);
  std::int32_t count = 0;
  for (const auto& [instance, member] : members_) {
    if (Live(member, now)) count = std::max(count, member.partition_count);
  }
  return count;
}

std::vector<ClusterMember> ClusterView::Members(Timestamp now) const {
  absl::MutexLock lock(&mutex_);
  std::vector<ClusterMember> live;
  for (const auto& [instance, member] : members_) {
    if (Live(member, now)) live.push_back(member);
  }
  return live;
}

}  // namespace crm
