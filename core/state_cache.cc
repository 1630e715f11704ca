#include "core/state_cache.h"

namespace crm {

const CustomerState* StateCache::Find(const CustomerId& id) {
  auto it = index_.find(id);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return &it->second->second;
}

CustomerState* StateCache::Lend(const CustomerId& id) {
  return const_cast<CustomerState*>(Find(id));
}

void StateCache::Put(const CustomerId& id, CustomerState state) {
  if (capacity_ == 0) return;
  auto it = index_.find(id);
  if (it != index_.end()) {
    it->second->second = std::move(state);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.emplace_front(id, std::move(state));
  index_.emplace(id, lru_.begin());
  if (index_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

void StateCache::Erase(const CustomerId& id) {
  auto it = index_.find(id);
  if (it == index_.end()) return;
  lru_.erase(it->second);
  index_.erase(it);
}

void StateCache::Clear() {
  index_.clear();
  lru_.clear();
}

}  // namespace crm
