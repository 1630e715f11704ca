#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "core/changelog.h"

namespace crm::testing {

// Partitions' changelogs in memory, written and read as Kafka would keep
// them: in order, each record with its offset. It can fail a Write after
// some of its records are appended, as a process killed mid-commit leaves
// them.
class MemoryChangelog final : public ChangelogSink, public ChangelogSource {
 public:
  absl::StatusOr<std::map<std::int32_t, std::int64_t>> Write(
      const std::vector<ChangelogWrite>& writes) override {
    std::map<std::int32_t, std::int64_t> offsets;
    for (const ChangelogWrite& write : writes) {
      std::vector<ChangelogRecord>& log = logs_[write.partition];
      const ChangelogStamp stamp{write.marker.epoch, write.marker.seq};
      for (const auto& [id, state] : write.customers) {
        if (fail_after_ && (*fail_after_)-- == 0) {
          fail_after_.reset();
          return absl::UnavailableError("injected changelog failure");
        }
        ChangelogRecord record{.kind = ChangelogRecord::Kind::kCustomer,
                               .offset = static_cast<std::int64_t>(log.size()),
                               .customer = *id,
                               .stamp = stamp};
        if (state != nullptr) record.state = *state;
        log.push_back(std::move(record));
      }
      for (const auto& [alert_id, alert] : write.alerts) {
        ChangelogRecord record{.kind = ChangelogRecord::Kind::kAlert,
                               .offset = static_cast<std::int64_t>(log.size()),
                               .stamp = stamp,
                               .alert_id = alert_id};
        if (alert != nullptr) record.alert = *alert;
        log.push_back(std::move(record));
      }
      ChangelogMarker marker{.at = stamp, .parent = write.marker.parent, .partition = write.marker};
      offsets[write.partition] = static_cast<std::int64_t>(log.size());
      log.push_back(
          {.kind = stamp.seq == 0 ? ChangelogRecord::Kind::kFence : ChangelogRecord::Kind::kMarker,
           .offset = offsets[write.partition],
           .marker = marker});
    }
    return offsets;
  }

  absl::Status Read(std::int32_t partition, std::optional<std::int64_t> from,
                    const std::function<absl::Status(ChangelogRecord)>& visit) override {
    ++reads_;
    for (const ChangelogRecord& record : logs_[partition]) {
      if (from && record.offset < *from) continue;
      if (absl::Status s = visit(record); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // Appends `record` to `partition`'s changelog as any producer could (a
  // poisoned record, an operator's tombstone), at the next offset.
  void Append(std::int32_t partition, ChangelogRecord record) {
    std::vector<ChangelogRecord>& log = logs_[partition];
    record.offset = static_cast<std::int64_t>(log.size());
    log.push_back(std::move(record));
  }

  // The next Write fails after `records` more customer records.
  void FailAfter(int records) { fail_after_ = records; }
  const std::vector<ChangelogRecord>& log(std::int32_t partition) { return logs_[partition]; }
  int reads() const { return reads_; }

 private:
  std::map<std::int32_t, std::vector<ChangelogRecord>> logs_;
  std::optional<int> fail_after_;
  int reads_ = 0;
};

}  // namespace crm::testing
