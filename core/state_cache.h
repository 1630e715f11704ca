#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/customer_id.h"
#include "core/customer_state.h"
#include "core/shared_states.h"

namespace crm {

// A bounded least-recently-used map of committed customer states, so that the
// hot path never reads storage for a customer seen recently. Holds only states
// that are durable. Bounded twice: by entries, and by bytes (each entry's
// StateBytes and its id's), whichever is reached first. Not thread-safe: owned
// by the consumer thread.
class StateCache {
 public:
  // At most `max_entries` states and `max_bytes` bytes (0: no bound by bytes).
  explicit StateCache(std::size_t max_entries, std::size_t max_bytes = 0)
      : max_entries_(max_entries), max_bytes_(max_bytes) {}

  // The cached state, or nullptr; marks it most recently used.
  const CustomerState* Find(const CustomerId& id);
  // The same, to move the state out while it is worked on; the caller must
  // then Put it back or Erase it.
  CustomerState* Lend(const CustomerId& id);
  // Inserts or replaces, then evicts the least recently used until both
  // bounds hold. A state larger than max_bytes alone is not kept (nor its
  // former entry), and evicts nothing. With shared states, `encoded` (the
  // state's committed bytes; null: none) replaces the shared copy when the
  // state is kept.
  void Put(const CustomerId& id, CustomerState state,
           std::shared_ptr<const std::string> encoded = nullptr);
  void Erase(const CustomerId& id);
  void Clear();
  // From now on `shared` holds the encoded bytes put with each state kept,
  // and loses them when the state is replaced, erased or evicted. May be null.
  void Share(SharedStates* shared) { shared_ = shared; }
  std::size_t size() const { return index_.size(); }
  // The bytes held, as counted when each state was put.
  std::size_t bytes() const { return bytes_; }

 private:
  struct Entry {
    CustomerId id;
    CustomerState state;
    std::size_t bytes = 0;  // counted by Put
  };
  void Evict();

  std::size_t max_entries_;
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  SharedStates* shared_ = nullptr;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<CustomerId, std::list<Entry>::iterator> index_;
};

}  // namespace crm
