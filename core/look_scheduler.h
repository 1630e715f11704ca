#pragma once

// The looks at customers: when a customer's churn is looked at again (their
// alert raised or cleared, their place in the at-risk index moved), and the
// time index that holds each one's next look, in memory (core/look_schedule.h).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/alerts.h"
#include "core/board.h"
#include "core/clock.h"
#include "core/ingest_state.h"
#include "core/look_schedule.h"
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
// Invariant: every customer looked at (not a prospect) has exactly one next
// look, in their committed state, planned once the look that plans it is
// taken (on the planning threads at commit, or before any look needs it);
// and each partition's schedule in memory is its committed time index — the
// next looks of its committed states — as far as its floor (LookSchedule),
// built from the store's states on first use and moved by each commit, so
// that no commit writes an index entry for a look. Used by the consumer
// thread, but Backlog.
class LookScheduler {
 public:
  // `state` must outlive the scheduler; `planning_threads` besides the
  // caller's plan the next looks at commit, each calling `started` (may be
  // empty) first; the schedules hold at most `schedule_entries` looks
  // (> 0) in all, the earliest of each partition, shared out evenly among
  // the partitions assigned.
  LookScheduler(IngestState* state, int planning_threads, std::size_t schedule_entries,
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

  // After `pending` committed: the schedules move its customers' looks.
  void Committed(const PendingCommit& pending);
  // Forgets `partition`'s schedule (built again from the store's states).
  void Forget(std::int32_t partition);
  void Clear();

  // The looks due at or before `until` on the schedules held, counted up to
  // `cap`, and the earliest. Thread-safe.
  ScheduleBacklog Backlog(Timestamp until, std::uint64_t cap) const;

 private:
  void Plan(PendingCommit& pending, const CustomerId& id, PendingCommit::Customer& customer,
            PendingCommit::Partition& partition);
  // Plans the next look of every customer of the partition left unplanned.
  void PlanPartition(PendingCommit& pending, PendingCommit::Partition& partition);
  // The earliest entry due of `partition` in the pending commit's view of
  // its index (nullopt: none, or PendingCommit::Partition::schedule_full).
  absl::StatusOr<std::optional<DueEntry>> NextDue(PendingCommit& pending, std::int32_t partition,
                                                  PendingCommit::Partition& part, Timestamp until);
  // The partition's schedule, built from the store's states when not held.
  absl::StatusOr<LookSchedule*> ScheduleOf(std::int32_t partition);
  absl::StatusOr<LookSchedule*> Load(std::int32_t partition);

  IngestState* state_;
  AlertContext context_;
  const std::size_t schedule_entries_;
  // Written by the consumer thread under the mutex, read by it without, by
  // Backlog under it.
  mutable absl::Mutex mutex_;
  std::map<std::int32_t, LookSchedule> schedules_;
  std::unique_ptr<ParallelLoop> planners_;
};

}  // namespace crm
