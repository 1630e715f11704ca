#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/changelog.h"
#include "core/check.h"

namespace crm::testing {

// Partitions' changelogs in memory, written and read as Kafka would keep
// them: in order, each record with its offset. It can fail a Write after
// some of its records are appended, as a process killed mid-commit leaves
// them.
class MemoryChangelog final : public ChangelogSink, public ChangelogSource {
 public:
  absl::StatusOr<std::map<std::int32_t, std::int64_t>> Write(
      const std::vector<ChangelogWrite>& writes) override {
    std::lock_guard<std::mutex> lock(write_mutex_);  // the lanes of IngestLanes write at once
    std::map<std::int32_t, std::int64_t> offsets;
    for (const ChangelogWrite& write : writes) {
      std::vector<ChangelogRecord>& log = logs_[write.partition];
      // The next offset: past the last record (compaction leaves gaps).
      const auto next = [&log] { return log.empty() ? std::int64_t{0} : log.back().offset + 1; };
      const ChangelogStamp stamp{write.marker.epoch, write.marker.seq};
      CRM_CHECK(write.encoded.empty() || write.encoded.size() == write.customers.size());
      for (std::size_t i = 0; i < write.customers.size(); ++i) {
        const auto& [id, state] = write.customers[i];
        if (!write.encoded.empty()) {
          CRM_CHECK((write.encoded[i] != nullptr) == (state != nullptr));
          if (state != nullptr) encoded_.push_back(*write.encoded[i]);
        }
        if (fail_after_ && (*fail_after_)-- == 0) {
          fail_after_.reset();
          return absl::UnavailableError("injected changelog failure");
        }
        ChangelogRecord record{.kind = ChangelogRecord::Kind::kCustomer,
                               .offset = next(),
                               .customer = *id,
                               .stamp = stamp};
        if (state != nullptr) record.state = *state;
        log.push_back(std::move(record));
      }
      for (const auto& [alert_id, alert] : write.alerts) {
        ChangelogRecord record{.kind = ChangelogRecord::Kind::kAlert,
                               .offset = next(),
                               .stamp = stamp,
                               .alert_id = alert_id};
        if (alert != nullptr) record.alert = *alert;
        log.push_back(std::move(record));
      }
      if (fail_at_marker_) {
        fail_at_marker_ = false;
        return absl::UnavailableError("injected changelog failure before a marker");
      }
      ChangelogMarker marker{.at = stamp, .parent = write.marker.parent, .partition = write.marker};
      offsets[write.partition] = next();
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

  // What Kafka's compaction may do to `partition`'s log: before its latest
  // fence (Kafka never cleans the active segment; a new owner's fence
  // follows a hand-over), only each key's latest record stays (a customer's,
  // an alert's, an epoch's marker, an epoch's fence), and tombstones past
  // their retention are removed. Offsets do not change.
  void Compact(std::int32_t partition) {
    std::vector<ChangelogRecord>& log = logs_[partition];
    std::size_t horizon = 0;
    for (std::size_t i = 0; i < log.size(); ++i) {
      if (log[i].kind == ChangelogRecord::Kind::kFence) horizon = i;
    }
    const auto key = [](const ChangelogRecord& record) {
      switch (record.kind) {
        case ChangelogRecord::Kind::kCustomer:
        case ChangelogRecord::Kind::kUnreadable:  // a customer's key all the same
          return "c" + record.customer.value();
        case ChangelogRecord::Kind::kAlert:
          return "a" + record.alert_id;
        case ChangelogRecord::Kind::kFence:
          return "f" + std::to_string(record.marker.at.epoch);
        case ChangelogRecord::Kind::kMarker:
          break;
      }
      return "m" + std::to_string(record.marker.at.epoch);
    };
    std::map<std::string, std::size_t> latest;
    for (std::size_t i = 0; i < horizon; ++i) latest[key(log[i])] = i;
    std::vector<ChangelogRecord> kept;
    for (std::size_t i = 0; i < log.size(); ++i) {
      const ChangelogRecord& record = log[i];
      const bool tombstone = (record.kind == ChangelogRecord::Kind::kCustomer && !record.state) ||
                             (record.kind == ChangelogRecord::Kind::kAlert && !record.alert);
      if (i < horizon && (latest[key(record)] != i || tombstone)) continue;
      kept.push_back(record);
    }
    log = std::move(kept);
  }

  // Appends `record` to `partition`'s changelog as any producer could (a
  // poisoned record, an operator's tombstone), at the next offset.
  void Append(std::int32_t partition, ChangelogRecord record) {
    std::vector<ChangelogRecord>& log = logs_[partition];
    record.offset = log.empty() ? 0 : log.back().offset + 1;
    log.push_back(std::move(record));
  }

  // The next Write fails after `records` more customer records.
  void FailAfter(int records) { fail_after_ = records; }
  // The next Write fails just before its (first) marker: its records are in
  // the log, its commit is not.
  void FailAtMarker() { fail_at_marker_ = true; }
  const std::vector<ChangelogRecord>& log(std::int32_t partition) { return logs_[partition]; }
  int reads() const { return reads_; }
  // The encoded states the writes carried (ChangelogWrite::encoded), in order.
  const std::vector<std::string>& encoded() const { return encoded_; }

 private:
  std::mutex write_mutex_;
  std::map<std::int32_t, std::vector<ChangelogRecord>> logs_;
  std::optional<int> fail_after_;
  bool fail_at_marker_ = false;
  int reads_ = 0;
  std::vector<std::string> encoded_;
};

}  // namespace crm::testing
