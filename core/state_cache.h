#pragma once

#include <cstddef>
#include <list>
#include <unordered_map>
#include <utility>

#include "core/customer_id.h"
#include "core/customer_state.h"

namespace crm {

// A bounded least-recently-used map of committed customer states, so that the
// hot path never reads storage for a customer seen recently. Holds only states
// that are durable. Not thread-safe: owned by the consumer thread.
class StateCache {
 public:
  explicit StateCache(std::size_t capacity) : capacity_(capacity) {}

  // The cached state, or nullptr; marks it most recently used.
  const CustomerState* Find(const CustomerId& id);
  // The same, to move the state out while it is worked on; the caller must
  // then Put it back or Erase it.
  CustomerState* Lend(const CustomerId& id);
  // Inserts or replaces, evicting the least recently used past capacity.
  void Put(const CustomerId& id, CustomerState state);
  void Erase(const CustomerId& id);
  void Clear();
  std::size_t size() const { return index_.size(); }

 private:
  using Entry = std::pair<CustomerId, CustomerState>;
  std::size_t capacity_;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<CustomerId, std::list<Entry>::iterator> index_;
};

}  // namespace crm
