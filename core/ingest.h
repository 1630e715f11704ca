#pragma once

// What the consumer thread's loop (core/ingest_loop.h) drives: one
// IngestProcessor, or IngestLanes, which deals the partitions out among
// several. Each method as IngestProcessor documents it.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/erasure.h"
#include "core/ingest_batch.h"
#include "core/partition_handover.h"
#include "core/population.h"

namespace crm {

class Ingest {
 public:
  virtual ~Ingest() = default;
  virtual absl::StatusOr<BatchResult> Process(const std::vector<InputRecord>& records) = 0;
  // Process in two halves, so that the caller polls the next batch while
  // this one is applied: Start begins with `records`, which the caller keeps
  // as they are until Finish, which returns when they are committed, with
  // Process's result. Between the two, nothing else may be called. Here,
  // Start processes at once; IngestLanes hands them to the lanes' threads.
  virtual void Start(const std::vector<InputRecord>& records) { started_ = Process(records); }
  virtual absl::StatusOr<BatchResult> Finish() {
    absl::StatusOr<BatchResult> result = std::move(started_);
    started_ = absl::FailedPreconditionError("Finish without Start");
    return result;
  }
  virtual absl::StatusOr<BatchResult> TakeDueLooks(std::size_t limit) = 0;
  // A poll brought nothing: what waits for a quiet moment is done now (the
  // lanes share their population at once, so that a reader sees it whole
  // as soon as the input is quiet). Here, nothing waits.
  virtual void Idle() {}
  virtual absl::Status SetAssignment(const std::vector<std::int32_t>& partitions) = 0;
  virtual absl::StatusOr<RestoreResult> RestorePartition(
      std::int32_t partition, const std::function<void(std::uint64_t)>& progress) = 0;
  virtual absl::Status TakeErasures(ErasureQueue& queue, AuditLog& audit) = 0;
  virtual void TakeRemotePopulation(RemotePopulationInbox& inbox) = 0;
  virtual std::vector<PopulationCell> PopulationCells(std::int32_t partition) const = 0;
  virtual std::uint64_t PopulationVersion(std::int32_t partition) const = 0;

 private:
  absl::StatusOr<BatchResult> started_ = absl::FailedPreconditionError("Finish without Start");
};

}  // namespace crm
