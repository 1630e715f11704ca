#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "core/state_store.h"

namespace crm::testing {

// StateStore in memory (LevelDB's memenv, Redpanda's memory_persistence):
// commits are atomic under one mutex.
class MemoryStateStore : public StateStore {
 public:
  absl::StatusOr<std::optional<CustomerState>> Get(const CustomerId& id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = states_.find(id);
    if (it == states_.end()) return std::optional<CustomerState>();
    return std::optional<CustomerState>(it->second);
  }
  absl::StatusOr<std::optional<std::int64_t>> GetOffset(const std::string& topic,
                                                        std::int32_t partition) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = offsets_.find({topic, partition});
    if (it == offsets_.end()) return std::optional<std::int64_t>();
    return std::optional<std::int64_t>(it->second);
  }
  absl::Status Commit(const std::string& topic, const StateBatch& batch) override {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [id, state] : batch.customers) states_[*id] = *state;
    for (const PartitionOffset& offset : batch.offsets) {
      offsets_[{topic, offset.partition}] = offset.next_offset;
    }
    ++commits_;
    return absl::OkStatus();
  }
  int commits() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return commits_;
  }
  std::map<CustomerId, CustomerState> states() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return states_;
  }

 private:
  mutable std::mutex mutex_;
  std::map<CustomerId, CustomerState> states_;
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> offsets_;
  int commits_ = 0;
};

// Wraps a store and fails its Nth Commit (1-based) without applying anything
// (LevelDB's ErrorEnv): proves that a failed commit advances nothing.
class FaultyStateStore : public StateStore {
 public:
  FaultyStateStore(StateStore* inner, int fail_commit) : inner_(inner), fail_commit_(fail_commit) {}
  absl::StatusOr<std::optional<CustomerState>> Get(const CustomerId& id) override {
    return inner_->Get(id);
  }
  absl::StatusOr<std::optional<std::int64_t>> GetOffset(const std::string& topic,
                                                        std::int32_t partition) override {
    return inner_->GetOffset(topic, partition);
  }
  absl::Status Commit(const std::string& topic, const StateBatch& batch) override {
    if (++commits_ == fail_commit_) return absl::UnavailableError("injected commit failure");
    return inner_->Commit(topic, batch);
  }

 private:
  StateStore* inner_;
  int fail_commit_;
  int commits_ = 0;
};

}  // namespace crm::testing
