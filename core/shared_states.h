#pragma once

// The committed states the consumer thread holds in memory (its StateCache),
// shared with readers on other threads — lookups served where the data is,
// without a read of the store.

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/customer_id.h"

namespace crm {

// Customers' committed states, each as the bytes the store holds for it
// (IngestOptions::encode). Invariant: an entry is the latest committed state
// of its customer — the consumer's cache replaces it only with the state a
// commit has made, and removes it with the cached state; a customer without
// an entry is read from the store. Thread-safe: written by the
// consumer thread, read by any; a read never waits for a commit.
class SharedStates {
 public:
  // The committed state of `id` in the store's encoding, or null: read the store.
  std::shared_ptr<const std::string> Find(const CustomerId& id) const;
  void Put(const CustomerId& id, std::shared_ptr<const std::string> encoded);
  void Erase(const CustomerId& id);
  void Clear();
  std::size_t size() const;

 private:
  // Shards, so that 16 lookups and the consumer rarely wait for one another.
  static constexpr std::size_t kShards = 32;
  struct Shard {
    mutable absl::Mutex mutex;
    std::unordered_map<CustomerId, std::shared_ptr<const std::string>> states
        ABSL_GUARDED_BY(mutex);
  };
  Shard& ShardOf(const CustomerId& id) const;

  mutable std::array<Shard, kShards> shards_;
};

}  // namespace crm
