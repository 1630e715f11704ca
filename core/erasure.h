#pragma once

// The right to be forgotten: requests to erase a customer, taken from any
// thread and carried out by the consumer thread (the only writer of customer
// state, through Eraser), and the audit trail they leave.

#include <cstdint>
#include <future>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/clock.h"
#include "core/customer_id.h"
#include "core/time.h"

namespace crm {

// One erasure asked for: which customer, by whom (an identity or a token's
// name, never a secret), and when; and the customer's input partition as the
// caller routed it (-1: unknown), which must be this instance's.
struct ErasureRequest {
  CustomerId customer;
  std::string requested_by;
  Timestamp requested_at{};
  std::int32_t partition = -1;
};

// How an erasure asked for ended.
enum class ErasureOutcome {
  kErased,          // durable: fsynced here and acknowledged by the changelog
  kNothingToErase,  // the customer was not known (a fence was set all the same)
  kRefused,         // not this instance's customer: nothing written
  kFailed,          // not made durable (the changelog or the store failed): retry
};
std::string_view ErasureOutcomeName(ErasureOutcome outcome);  // "erased", …

// What the audit trail keeps of an erasure: the request and its outcome, no
// other personal data (port; an append-only file in production).
class AuditLog {
 public:
  virtual ~AuditLog() = default;
  // Returns once the record is durable. Called before the erasure commits,
  // so that no erasure ever happens unrecorded.
  virtual absl::Status Record(const ErasureRequest& request) = 0;
  // Records how `request` ended (`detail`: why, for kRefused and kFailed;
  // bounded by the caller). Returns once durable.
  virtual absl::Status RecordOutcome(const ErasureRequest& request, ErasureOutcome outcome,
                                     std::string_view detail) = 0;
};

// Erasure requests waiting for the consumer thread. Thread-safe.
class ErasureQueue {
 public:
  struct Pending {
    ErasureRequest request;
    // Set by the consumer thread: true when the customer was erased, false
    // when there was nothing to erase, an error when the erasure failed.
    std::promise<absl::StatusOr<bool>> done;
  };

  // Queues `request`; its outcome arrives on the future.
  std::future<absl::StatusOr<bool>> Submit(ErasureRequest request) ABSL_LOCKS_EXCLUDED(mutex_);
  // Queues a request taken from another queue, its outcome still awaited.
  void Add(Pending pending) ABSL_LOCKS_EXCLUDED(mutex_);
  // The requests queued so far, oldest first; the queue is left empty.
  std::vector<Pending> TakeAll() ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  absl::Mutex mutex_;
  std::vector<Pending> pending_ ABSL_GUARDED_BY(mutex_);
};

struct IngestState;
class PartitionHandOver;
struct PartitionState;
struct Touchpoint;

// Whether `touchpoint` occurred before its customer was erased (an erasure
// fence of `partition`), so that it must not bring them back.
bool ErasedAfter(const PartitionState& partition, const Touchpoint& touchpoint);

// Carries out erasures, on the consumer thread (IngestProcessor::Erase and
// TakeErasures say what each does).
//
// Invariant: an erasure is answered only once durable (fsynced and, with a
// changelog, acknowledged by it), and leaves a fence on the customer's
// partition so that none of their touchpoints from before it brings them
// back; an erasure that failed leaves everything as it was.
class Eraser {
 public:
  // The pointers must outlive the eraser. Fences are kept for `fence_ttl`.
  Eraser(IngestState* state, PartitionHandOver* handover, const Clock* clock, Micros fence_ttl);

  absl::StatusOr<bool> Erase(const ErasureRequest& request);
  absl::Status TakeErasures(ErasureQueue& queue, AuditLog& audit);

 private:
  // OK when `request`'s customer belongs to a partition this instance owns
  // (or no assignment is known yet); Unavailable otherwise.
  absl::Status CheckOwned(const ErasureRequest& request);
  // Adds a fence for `id_hash` at `erased_at` to `state`, forgetting those
  // past fence_ttl (and the oldest beyond kMaxErasureFences).
  void AddFence(PartitionState& state, std::uint64_t id_hash, Timestamp erased_at) const;

  IngestState* state_;
  PartitionHandOver* handover_;
  const Clock* clock_;
  Micros fence_ttl_;
};

}  // namespace crm
