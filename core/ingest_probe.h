#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/follow_up.h"
#include "core/recommended_action.h"
#include "core/segment.h"
#include "core/time.h"
#include "core/touchpoint.h"
#include "core/validation.h"

namespace crm {

// What ingestion reports about itself (port; Prometheus in production). Called
// from the consumer thread and, with IngestLanes, from every lane's thread at
// once: implementations are thread-safe. Every metric of ingestion is
// declared here.
class IngestProbe {
 public:
  virtual ~IngestProbe() = default;
  virtual void Consumed(std::uint64_t records) = 0;
  virtual void Applied(TouchpointType type) = 0;
  virtual void DuplicateSkipped() = 0;
  // A touchpoint dropped: its customer was erased after it occurred.
  virtual void ErasedSkipped() {}
  virtual void Rejected(RejectReason reason) = 0;
  // One batch applied and committed: its size and the time from first decode to durable.
  virtual void BatchCommitted(std::size_t records, Micros latency) = 0;
  // Records between the committed offset of `partition` and its end.
  virtual void InputLag(std::int32_t partition, std::int64_t records) = 0;
  // An alert raised (kRaised) or cleared (kCleared) by a committed batch, with
  // the action recommended and the customer's segment.
  virtual void AlertChanged(bool raised, RecommendedAction action, Segment segment) = 0;
  // What a committed batch added to the outcomes of the alerts followed up
  // (alerts, contacted, recovered, revenue) of each group; a default body.
  virtual void FollowedUp(const OutcomeTotals& added) { (void)added; }
  // Looks taken because they were due in the time index.
  virtual void LooksTaken(std::size_t looks) = 0;
  // Customers of `partition` with an open alert, as committed (0 once the
  // partition is no longer assigned here).
  virtual void OpenAlerts(std::int32_t partition, std::uint64_t open) = 0;
  // The brokers of the input topic are reachable (true) or not (false).
  virtual void InputConnected(bool connected) = 0;
  // A committed batch's records, each as old as its entry in `ages`: from its
  // Kafka timestamp to the commit that made its scores visible. A default
  // body: a probe may leave it out.
  virtual void Visible(const std::vector<Micros>& ages) { (void)ages; }
  // The churn of each look a committed batch took (a touchpoint's or a due
  // one's), for the distribution of churn; a default body as for Visible.
  virtual void Looked(const std::vector<double>& churns) { (void)churns; }
  // Rejected records that could not be put on the dead-letter topic even
  // cut down to a minimal record, and were passed over (RejectSink::Flush).
  virtual void DeadLetterFailed(std::uint64_t records) { (void)records; }
  // A partition being restored from its changelog: `records` more read;
  // `done` at its end.
  virtual void RestoreProgress(std::uint64_t records, bool done) {
    (void)records;
    (void)done;
  }
  // A partition's changelog could not be restored (an unreadable or
  // inconsistent record): the partition is left out, the others go on.
  virtual void RestoreFailed() {}
  // Writes fail for want of space (true): ingestion is paused until a retry
  // succeeds (false).
  virtual void StorageFull(bool full) { (void)full; }
};

// A probe that reports nowhere.
class NullIngestProbe final : public IngestProbe {
 public:
  void Consumed(std::uint64_t) override {}
  void Applied(TouchpointType) override {}
  void DuplicateSkipped() override {}
  void Rejected(RejectReason) override {}
  void BatchCommitted(std::size_t, Micros) override {}
  void InputLag(std::int32_t, std::int64_t) override {}
  void AlertChanged(bool, RecommendedAction, Segment) override {}
  void LooksTaken(std::size_t) override {}
  void OpenAlerts(std::int32_t, std::uint64_t) override {}
  void InputConnected(bool) override {}
};

}  // namespace crm
