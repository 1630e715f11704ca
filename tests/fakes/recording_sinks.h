#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/ingest_probe.h"
#include "core/reject_sink.h"

namespace crm::testing {

// An IngestProbe that counts what it is told.
class RecordingProbe : public IngestProbe {
 public:
  void Consumed(std::uint64_t records) override { consumed += records; }
  void Applied(TouchpointType type) override { ++applied[type]; }
  void DuplicateSkipped() override { ++duplicates; }
  void Rejected(RejectReason reason) override { ++rejected[reason]; }
  void BatchCommitted(std::size_t, Micros) override { ++batches; }
  void InputLag(std::int32_t partition, std::int64_t records) override { lag[partition] = records; }

  std::uint64_t consumed = 0, duplicates = 0, batches = 0;
  std::map<TouchpointType, int> applied;
  std::map<RejectReason, int> rejected;
  std::map<std::int32_t, std::int64_t> lag;
};

// A RejectSink that keeps what it was sent; Flush can be made to fail.
class RecordingRejectSink : public RejectSink {
 public:
  struct Sent {
    std::int64_t offset;
    std::string key, value;
    RejectReason reason;
  };
  absl::Status Send(std::int32_t, std::int64_t offset, std::string_view key, std::string_view value,
                    const Rejection& rejection) override {
    queued.push_back({offset, std::string(key), std::string(value), rejection.reason});
    return absl::OkStatus();
  }
  absl::Status Flush() override {
    if (fail_flush) return absl::UnavailableError("injected flush failure");
    flushed.insert(flushed.end(), queued.begin(), queued.end());
    queued.clear();
    return absl::OkStatus();
  }
  bool fail_flush = false;
  std::vector<Sent> queued, flushed;
};

}  // namespace crm::testing
