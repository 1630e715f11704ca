#include "core/changelog.h"

#include <utility>

namespace crm {

void RestoringPartitions::Begin(std::int32_t partition) {
  std::lock_guard<std::mutex> lock(mutex_);
  partitions_.insert(partition);
  failed_.erase(partition);
}

void RestoringPartitions::Fail(std::int32_t partition, std::string why) {
  std::lock_guard<std::mutex> lock(mutex_);
  failed_[partition] = std::move(why);
}

void RestoringPartitions::End(std::int32_t partition) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = partitions_.find(partition); it != partitions_.end()) partitions_.erase(it);
}

void RestoringPartitions::SetOwned(std::set<std::int32_t> owned, std::int32_t count) {
  std::lock_guard<std::mutex> lock(mutex_);
  owned_ = std::move(owned);
  count_ = count;
  std::erase_if(progress_, [&](const auto& entry) { return !owned_->contains(entry.first); });
  std::erase_if(failed_, [&](const auto& entry) { return !owned_->contains(entry.first); });
}

bool RestoringPartitions::OwnsAll() const {
  if (!owned_) return true;
  if (count_ <= 0) return false;
  for (std::int32_t p = 0; p < count_; ++p) {
    if (!owned_->contains(p)) return false;
  }
  return true;
}

absl::Status RestoringPartitions::CheckAnswer(const CustomerId& /*id*/,
                                              const std::optional<CustomerState>& state) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (owned_ && state && !owned_->contains(state->partition)) {
    return absl::UnavailableError(
        "the customer's partition " + std::to_string(state->partition) +
        " is not this instance's now (another owns it, or a rebalance is under way)");
  }
  if (!state && !OwnsAll()) {
    return absl::UnavailableError(
        "the customer is not on this instance's partitions; the instance that "
        "owns theirs may know them");
  }
  if (!failed_.empty()) {
    if (state && failed_.contains(state->partition)) {
      return absl::UnavailableError("the customer's partition " + std::to_string(state->partition) +
                                    " could not be restored from its changelog (" +
                                    failed_.at(state->partition) +
                                    "); it is served again once an operator repairs it");
    }
    if (!state) {
      return absl::UnavailableError(
          "the customer is not known here, but partition " +
          std::to_string(failed_.begin()->first) +
          ", which may hold them, could not be restored from its changelog (" +
          failed_.begin()->second + ")");
    }
  }
  if (partitions_.empty()) return absl::OkStatus();
  if (state && partitions_.contains(state->partition)) {
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

absl::Status RestoringPartitions::CheckAll() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!OwnsAll()) {
    return absl::UnavailableError(
        "this instance owns only some partitions: its ranking would leave out the others'");
  }
  if (!failed_.empty()) {
    return absl::UnavailableError("partition " + std::to_string(failed_.begin()->first) +
                                  " could not be restored from its changelog: a ranking would "
                                  "leave out its customers");
  }
  if (partitions_.empty()) return absl::OkStatus();
  return absl::UnavailableError("a partition is being restored from its changelog; retry shortly");
}

bool RestoringPartitions::Serves(std::int32_t partition) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return (!owned_ || owned_->contains(partition)) && !partitions_.contains(partition) &&
         !failed_.contains(partition);
}

std::pair<std::optional<std::set<std::int32_t>>, std::int32_t> RestoringPartitions::Owned() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {owned_, count_};
}

void RestoringPartitions::Committed(std::int32_t partition, Timestamp at) {
  std::lock_guard<std::mutex> lock(mutex_);
  progress_[partition].committed_at = at;
}

void RestoringPartitions::SetLag(std::int32_t partition, std::int64_t lag) {
  std::lock_guard<std::mutex> lock(mutex_);
  progress_[partition].lag = lag;
}

RestoringPartitions::Progress RestoringPartitions::ProgressOf(std::int32_t partition) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = progress_.find(partition);
  return it == progress_.end() ? Progress{} : it->second;
}

ChangelogReplay::ChangelogReplay(std::optional<ChangelogStamp> local) : at_(local) {
  if (local) epochs_[local->epoch] = {};
}

bool ChangelogReplay::Valid(const ChangelogStamp& stamp) const {
  const auto epoch = epochs_.find(stamp.epoch);
  return epoch != epochs_.end() && (!epoch->second.end || stamp.seq <= *epoch->second.end);
}

ChangelogStep ChangelogReplay::Take(const ChangelogMarker& through, std::int64_t offset) {
  ChangelogStep step;
  step.through = through;
  step.offset = offset;
  std::vector<ChangelogRecord> still;
  for (ChangelogRecord& record : waiting_) {
    if (!Valid(record.stamp)) {
      Drop(record);  // past the end a fence gave its epoch
      continue;
    }
    const auto& epoch = epochs_.at(record.stamp.epoch);
    const bool certain =
        (record.stamp.epoch == through.at.epoch && record.stamp.seq <= through.at.seq) ||
        epoch.end.has_value();
    if (certain && record.kind == ChangelogRecord::Kind::kAlert) {
      step.alerts.emplace_back(std::move(record.alert_id), std::move(record.alert));
    } else if (certain) {
      step.customers.emplace_back(std::move(record.customer), std::move(record.state));
    } else {
      still.push_back(std::move(record));
    }
  }
  waiting_ = std::move(still);
  return step;
}

std::vector<ChangelogStep> ChangelogReplay::Add(ChangelogRecord record) {
  std::vector<ChangelogStep> steps;
  switch (record.kind) {
    case ChangelogRecord::Kind::kCustomer:
    case ChangelogRecord::Kind::kAlert:
      if (Valid(record.stamp)) {
        waiting_.push_back(std::move(record));
      } else {
        Drop(record);  // of an epoch not in the line, or written after its end
      }
      break;
    case ChangelogRecord::Kind::kFence: {
      const ChangelogMarker& fence = record.marker;
      // The epoch continued from ends at the commit continued from: what it
      // wrote up to there is certain, the rest never happened.
      if (fence.parent) {
        if (auto parent = epochs_.find(fence.parent->epoch); parent != epochs_.end()) {
          parent->second.end = fence.parent->seq;
        }
      }
      epochs_[fence.at.epoch] = {};
      steps.push_back(Take(fence, record.offset));
      at_ = fence.at;
      break;
    }
    case ChangelogRecord::Kind::kUnreadable:
      break;  // the reader's to judge (see IngestProcessor::RestorePartition)
    case ChangelogRecord::Kind::kMarker:
      if (!Valid(record.marker.at)) {
        ++dropped_;  // a marker of an ended epoch, past its end
        break;
      }
      steps.push_back(Take(record.marker, record.offset));
      at_ = record.marker.at;
      break;
  }
  return steps;
}

void ChangelogReplay::Drop(const ChangelogRecord& record) {
  ++dropped_;
  // An alert of a commit that did not happen is raised again, under the same
  // id, when its touchpoints are processed again.
  if (record.kind == ChangelogRecord::Kind::kCustomer) orphaned_.insert(record.customer);
}

void ChangelogReplay::Finish() {
  for (const ChangelogRecord& record : waiting_) Drop(record);
  waiting_.clear();
}

}  // namespace crm
