#pragma once

// The looks at customers: when a customer's churn is looked at again (their
// alert raised or cleared, their place in the at-risk index moved), and the
// time index that holds each one's next look.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "core/alerts.h"
#include "core/board.h"
#include "core/clock.h"
#include "core/ingest_state.h"
#include "core/parallel_loop.h"
#include "core/pending_commit.h"
#include "core/scorer.h"

namespace crm {

// What a look needs: the model in use and the policy.
struct AlertContext {
  const Board<Scorer>* scorers = nullptr;
  const AlertPolicy* policy = nullptr;
  // The wall clock, up to which TakeDueLooks takes the looks due (--clock
  // wall). Null: the event clock, on which each partition's looks are taken
  // as its own event time (its watermark) passes them, between its records.
  const Clock* clock = nullptr;
};

// Takes looks into a pending commit and keeps the time index whole.
//
// Invariant: every customer looked at (not a prospect) has exactly one entry
// in their partition's time index, at their next look, planned once the look
// that plans it is taken (on the planning threads at commit, or before any
// look needs it); and the per-partition floor is never later than the
// earliest committed entry of the partition, so that reads of the index
// start there, past the deletions of looks taken, and are not made at all
// until it is due. Used by the consumer thread only.
class LookScheduler {
 public:
  // `state` must outlive the scheduler; `planning_threads` besides the
  // caller's plan the next looks at commit, each calling `started` (may be
  // empty) first.
  LookScheduler(IngestState* state, int planning_threads,
                const std::function<void()>& started = {});

  // From now on customers are looked at (IngestProcessor::EnableAlerts).
  // REQUIRES: scorers come with a policy.
  void Enable(AlertContext context);
  bool enabled() const { return context_.scorers != nullptr; }
  // Looks are taken as each partition's event time passes them (Process).
  bool on_event_clock() const { return enabled() && context_.clock == nullptr; }
  const AlertContext& context() const { return context_; }

  // Looks at `id` as of `at`: the alert raised or cleared (into the pending
  // commit's alerts), the next look scheduled, the at-risk index moved (at
  // commit). Prospects are never looked at. REQUIRES: enabled().
  void Look(PendingCommit& pending, const CustomerId& id, PendingCommit::Customer& customer,
            PendingCommit::Partition& partition, Timestamp at);
  // Counts `touchpoint`, just applied to `state`, in the follow-ups of the
  // customer's alerts (core/follow_up.h). REQUIRES: enabled().
  void FollowUp(const Touchpoint& touchpoint, CustomerState& state) const;
  // Takes the customer's looks due at or before `until`, in order.
  void TakeDue(PendingCommit& pending, const CustomerId& id, PendingCommit::Customer& customer,
               PendingCommit::Partition& partition, Timestamp until);
  // Takes every look due at or before `until` on `partition`, in time order,
  // `budget` (may be null) bounding them. True when done; false when the
  // pending commit holds `max_customers` customers first: commit it, and call
  // again with the next one.
  absl::StatusOr<bool> TakeDue(PendingCommit& pending, std::int32_t partition, Timestamp until,
                               std::size_t* budget, std::size_t max_customers);
  // Plans the next look of every customer of `pending` looked at since their
  // last plan, on the planning threads. Before the commit.
  void PlanAll(PendingCommit& pending);

  // After `pending` committed (or was empty): where each partition's
  // committed time index may start now.
  void Committed(const PendingCommit& pending);
  // Forgets where `partition`'s index starts (read again from its start).
  void Forget(std::int32_t partition) { due_floor_.erase(partition); }
  void Clear() { due_floor_.clear(); }

 private:
  void Plan(PendingCommit& pending, const CustomerId& id, PendingCommit::Customer& customer,
            PendingCommit::Partition& partition);
  // Plans the next look of every customer of the partition left unplanned.
  void PlanPartition(PendingCommit& pending, PendingCommit::Partition& partition);
  // The earliest entry due of `partition` in the pending commit's view of
  // its index (nullopt: none), reading the committed index a page at a time.
  absl::StatusOr<std::optional<DueEntry>> NextDue(PendingCommit& pending, std::int32_t partition,
                                                  PendingCommit::Partition& part, Timestamp until);

  IngestState* state_;
  AlertContext context_;
  // Per partition, a time no committed time-index entry is earlier than (as
  // learnt from the reads and commits since the cache was last cleared).
  std::map<std::int32_t, Timestamp> due_floor_;
  std::unique_ptr<ParallelLoop> planners_;
};

}  // namespace crm
