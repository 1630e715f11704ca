#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/ingest_probe.h"
#include "core/time.h"
#include "core/touchpoint.h"
#include "core/validation.h"

namespace crm::testing {

// An IngestProbe that counts what it is told, per touchpoint type and per
// reject reason. Used from one thread (not by several lanes at once); read
// the public fields.
class RecordingProbe final : public IngestProbe {
 public:
  void Consumed(std::uint64_t records) override { consumed += records; }
  void Applied(TouchpointType type) override { ++applied[type]; }
  void DuplicateSkipped() override { ++duplicates; }
  void ErasedSkipped() override { ++erased; }
  void Rejected(RejectReason reason) override { ++rejected[reason]; }
  void DeadLetterFailed(std::uint64_t records) override { dead_letter_failures += records; }
  void BatchCommitted(std::size_t records, Micros) override {
    ++batches;
    committed_records += records;
  }
  void InputLag(std::int32_t partition, std::int64_t records) override { lag[partition] = records; }
  void AlertChanged(bool raised, RecommendedAction action, Segment segment) override {
    (raised ? alerts_raised : alerts_cleared)
        .push_back(std::string(RecommendedActionName(action)) + "/" +
                   std::string(SegmentName(segment)));
  }
  void LooksTaken(std::size_t looks) override { looks_taken += looks; }
  void OpenAlerts(std::int32_t partition, std::uint64_t open) override {
    open_alerts[partition] = open;
  }
  void InputConnected(bool now) override {
    connected = now;
    connected_changes.push_back(now);
  }
  void Visible(const std::vector<Micros>& ages) override {
    visible.insert(visible.end(), ages.begin(), ages.end());
  }
  void RestoreFailed() override { ++restores_failed; }
  void StorageFull(bool full) override { storage_full.push_back(full); }
  void Looked(const std::vector<double>& churns) override {
    looked.insert(looked.end(), churns.begin(), churns.end());
  }
  bool connected = true;
  std::vector<bool> connected_changes, storage_full;  // every value told, in order
  std::vector<Micros> visible;                        // every age told
  int restores_failed = 0;
  std::vector<double> looked;  // the churn of every look of the committed batches

  std::vector<std::string> alerts_raised, alerts_cleared;  // "ACTION/SEGMENT"
  std::size_t looks_taken = 0;
  std::map<std::int32_t, std::uint64_t> open_alerts;  // the last value per partition

  // Sums over the per-key counters.
  int applied_total() const { return Sum(applied); }
  int rejected_total() const { return Sum(rejected); }

  std::uint64_t consumed = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t dead_letter_failures = 0;
  std::uint64_t erased = 0;
  std::uint64_t batches = 0;            // BatchCommitted calls
  std::uint64_t committed_records = 0;  // records over those batches
  std::map<TouchpointType, int> applied;
  std::map<RejectReason, int> rejected;
  std::map<std::int32_t, std::int64_t> lag;  // the last value per partition

 private:
  template <typename Key>
  static int Sum(const std::map<Key, int>& counts) {
    int total = 0;
    for (const auto& [key, count] : counts) total += count;
    return total;
  }
};

}  // namespace crm::testing
