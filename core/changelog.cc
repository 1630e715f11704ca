#include "core/changelog.h"

#include <utility>

namespace crm {

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
