#include "core/state_cache.h"

namespace crm {
namespace {

// An entry's bytes: its state's, its id's, and the list node and the index
// entry that hold it.
std::size_t EntryBytes(const CustomerId& id, const CustomerState& state) {
  return StateBytes(state) + 2 * id.value().size() + 96;
}

}  // namespace

const CustomerState* StateCache::Find(const CustomerId& id) {
  auto it = index_.find(id);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return &it->second->state;
}

CustomerState* StateCache::Lend(const CustomerId& id) {
  return const_cast<CustomerState*>(Find(id));
}

void StateCache::Put(const CustomerId& id, CustomerState state,
                     std::shared_ptr<const std::string> encoded) {
  const std::size_t bytes = EntryBytes(id, state);
  if (max_entries_ == 0 || (max_bytes_ > 0 && bytes > max_bytes_)) {  // would not fit
    Erase(id);
    return;
  }
  if (shared_ != nullptr) {
    if (encoded) {
      shared_->Put(id, std::move(encoded));
    } else {
      shared_->Erase(id);
    }
  }
  auto it = index_.find(id);
  if (it != index_.end()) {
    bytes_ -= it->second->bytes;
    it->second->state = std::move(state);
    it->second->bytes = bytes;
    lru_.splice(lru_.begin(), lru_, it->second);
  } else {
    lru_.push_front(Entry{id, std::move(state), bytes});
    index_.emplace(id, lru_.begin());
  }
  bytes_ += bytes;
  Evict();
}

void StateCache::Evict() {
  while (!lru_.empty() &&
         (index_.size() > max_entries_ || (max_bytes_ > 0 && bytes_ > max_bytes_))) {
    bytes_ -= lru_.back().bytes;
    if (shared_ != nullptr) shared_->Erase(lru_.back().id);
    index_.erase(lru_.back().id);
    lru_.pop_back();
  }
}

void StateCache::Erase(const CustomerId& id) {
  if (shared_ != nullptr) shared_->Erase(id);
  auto it = index_.find(id);
  if (it == index_.end()) return;
  bytes_ -= it->second->bytes;
  lru_.erase(it->second);
  index_.erase(it);
}

void StateCache::Clear() {
  if (shared_ != nullptr) shared_->Clear();
  index_.clear();
  lru_.clear();
  bytes_ = 0;
}

}  // namespace crm
