#include "core/partition_ownership.h"

#include <utility>

namespace crm {

void PartitionOwnership::Begin(std::int32_t partition) {
  absl::MutexLock lock(&mutex_);
  partitions_.insert(partition);
  failed_.erase(partition);
  Publish();
}

void PartitionOwnership::Fail(std::int32_t partition, std::string why) {
  absl::MutexLock lock(&mutex_);
  failed_[partition] = std::move(why);
  Publish();
}

void PartitionOwnership::End(std::int32_t partition) {
  absl::MutexLock lock(&mutex_);
  if (auto it = partitions_.find(partition); it != partitions_.end()) partitions_.erase(it);
  Publish();
}

void PartitionOwnership::SetOwned(std::set<std::int32_t> owned, std::int32_t count) {
  absl::MutexLock lock(&mutex_);
  const auto elsewhere = [&owned](const auto& entry) { return !owned.contains(entry.first); };
  std::erase_if(progress_, elsewhere);
  std::erase_if(failed_, elsewhere);
  owned_ = std::move(owned);
  count_ = count;
  Publish();
}

void PartitionOwnership::SetPartitionerMismatch() {
  if (partitioner_mismatch_.exchange(true)) return;  // once: it is never unset
  absl::MutexLock lock(&mutex_);
  Publish();
}

void PartitionOwnership::Publish() {
  snapshot_ = std::make_shared<const Snapshot>(
      Snapshot{.owned = owned_,
               .count = count_,
               .restoring = partitions_,
               .failed = failed_,
               .partitioner_mismatch = partitioner_mismatch_.load()});
}

bool PartitionOwnership::Snapshot::OwnsAll() const {
  if (!owned) return true;
  if (count <= 0) return false;
  for (std::int32_t p = 0; p < count; ++p) {
    if (!owned->contains(p)) return false;
  }
  return true;
}

absl::Status PartitionOwnership::Snapshot::CheckAnswer(
    const std::optional<CustomerState>& state) const {
  if (owned && state && !owned->contains(state->partition)) {
    return absl::UnavailableError(
        "the customer's partition " + std::to_string(state->partition) +
        " is not this instance's now (another owns it, or a rebalance is under way)");
  }
  if (!state && !OwnsAll()) {
    return absl::UnavailableError(
        "the customer is not on this instance's partitions; the instance that "
        "owns theirs may know them");
  }
  if (!failed.empty()) {
    if (state && failed.contains(state->partition)) {
      return absl::UnavailableError("the customer's partition " + std::to_string(state->partition) +
                                    " could not be restored from its changelog (" +
                                    failed.at(state->partition) +
                                    "); it is served again once an operator repairs it");
    }
    if (!state) {
      return absl::UnavailableError(
          "the customer is not known here, but partition " + std::to_string(failed.begin()->first) +
          ", which may hold them, could not be restored from its changelog (" +
          failed.begin()->second + ")");
    }
  }
  if (restoring.empty()) return absl::OkStatus();
  if (state && restoring.contains(state->partition)) {
    return absl::UnavailableError("the customer's partition " + std::to_string(state->partition) +
                                  " is being restored from its changelog; retry shortly");
  }
  if (!state) {
    return absl::UnavailableError(
        "the customer is not known yet: a partition is being restored from its "
        "changelog; retry shortly");
  }
  return absl::OkStatus();
}

absl::Status PartitionOwnership::Snapshot::CheckAll() const {
  if (!OwnsAll()) {
    return absl::UnavailableError(
        "this instance owns only some partitions: its ranking would leave out the others'");
  }
  if (!failed.empty()) {
    return absl::UnavailableError("partition " + std::to_string(failed.begin()->first) +
                                  " could not be restored from its changelog: a ranking would "
                                  "leave out its customers");
  }
  if (restoring.empty()) return absl::OkStatus();
  return absl::UnavailableError("a partition is being restored from its changelog; retry shortly");
}

bool PartitionOwnership::Snapshot::Serves(std::int32_t partition) const {
  return (!owned || owned->contains(partition)) && !restoring.contains(partition) &&
         !failed.contains(partition);
}

absl::Status PartitionOwnership::CheckAnswer(const CustomerId& /*id*/,
                                             const std::optional<CustomerState>& state) const {
  return TakeSnapshot()->CheckAnswer(state);
}

absl::Status PartitionOwnership::CheckAll() const { return TakeSnapshot()->CheckAll(); }

bool PartitionOwnership::Serves(std::int32_t partition) const {
  return TakeSnapshot()->Serves(partition);
}

std::shared_ptr<const PartitionOwnership::Snapshot> PartitionOwnership::TakeSnapshot() const {
  absl::MutexLock lock(&mutex_);
  return snapshot_;
}

std::pair<std::optional<std::set<std::int32_t>>, std::int32_t> PartitionOwnership::Owned() const {
  absl::MutexLock lock(&mutex_);
  return {owned_, count_};
}

void PartitionOwnership::Committed(std::int32_t partition, Timestamp at) {
  absl::MutexLock lock(&mutex_);
  progress_[partition].committed_at = at;
}

void PartitionOwnership::SetLag(std::int32_t partition, std::int64_t lag) {
  absl::MutexLock lock(&mutex_);
  progress_[partition].lag = lag;
}

PartitionOwnership::Progress PartitionOwnership::ProgressOf(std::int32_t partition) const {
  absl::MutexLock lock(&mutex_);
  const auto it = progress_.find(partition);
  return it == progress_.end() ? Progress{} : it->second;
}

}  // namespace crm
