#include "core/shared_states.h"

#include <functional>
#include <utility>

namespace crm {

SharedStates::Shard& SharedStates::ShardOf(const CustomerId& id) const {
  return shards_[std::hash<CustomerId>()(id) % kShards];
}

std::shared_ptr<const std::string> SharedStates::Find(const CustomerId& id) const {
  Shard& shard = ShardOf(id);
  absl::MutexLock lock(&shard.mutex);
  auto it = shard.states.find(id);
  return it == shard.states.end() ? nullptr : it->second;
}

void SharedStates::Put(const CustomerId& id, std::shared_ptr<const std::string> encoded) {
  Shard& shard = ShardOf(id);
  std::shared_ptr<const std::string> replaced;  // freed outside the lock
  absl::MutexLock lock(&shard.mutex);
  std::shared_ptr<const std::string>& entry = shard.states[id];
  replaced = std::exchange(entry, std::move(encoded));
}

void SharedStates::Erase(const CustomerId& id) {
  Shard& shard = ShardOf(id);
  absl::MutexLock lock(&shard.mutex);
  shard.states.erase(id);
}

void SharedStates::Clear() {
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mutex);
    shard.states.clear();
  }
}

std::size_t SharedStates::size() const {
  std::size_t size = 0;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mutex);
    size += shard.states.size();
  }
  return size;
}

}  // namespace crm
