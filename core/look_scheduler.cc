#include "core/look_scheduler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "core/check.h"

namespace crm {
namespace {

// The next look of a customer just looked at (the look is their alert
// state's looked_at), planned against `customer.plan`: pure, so that
// customers are planned on any thread.
void PlanNextLook(const Scorer& scorer, double precision, PendingCommit::Customer& customer) {
  CustomerState& state = customer.state;
  ChurnCurve curve(scorer, state);
  const Micros horizon = FromDays(scorer.model().churn.horizon_days);
  state.alert.next_look = NextLook([&](Timestamp t) { return curve.At(t); }, *state.alert.looked_at,
                                   state.alert, *customer.plan, precision, horizon);
  customer.plan = nullptr;
}

void Reschedule(const CustomerId& id, AlertState& alert, PendingCommit::Partition& partition,
                std::optional<Timestamp> next) {
  if (alert.next_look) partition.due.erase(DueEntry{*alert.next_look, id});
  alert.next_look = next;
  if (next) partition.due.insert(DueEntry{*next, id});
}

// Why `event` is not for marketing, as of `at`. A raise draws its control
// group, kept with the alert so that its clear says the same; a clear not in
// the control group is judged as a raise with no draw.
MarketingExclusion Exclusion(const AlertEvent& event, Timestamp at, const MarketingPolicy& policy,
                             CustomerState& state) {
  const bool raised = event.outcome.transition == AlertTransition::kRaised;
  if (!raised && state.alert.control) return MarketingExclusion::kControlGroup;
  MarketingPolicy judged = policy;
  if (!raised) judged.control_share = 0;
  const MarketingExclusion exclusion = ExclusionOf(
      event.outcome.alert_id, event.action, event.channel, CampaignContacts30d(state, at), judged);
  if (raised) state.alert.control = exclusion == MarketingExclusion::kControlGroup;
  return exclusion;
}

// Moves the customer's indexed appetence to `now`'s where it differs by
// half the precision or more; products no longer scored leave the index.
void IndexAppetence(const AppetenceByProduct& now, double precision, AlertState& alert) {
  std::erase_if(alert.indexed_appetence,
                [&](const auto& entry) { return !now.contains(entry.first); });
  for (const auto& [product, probability] : now) {
    auto [it, added] = alert.indexed_appetence.try_emplace(product, probability);
    if (!added && std::fabs(probability - it->second) >= precision / 2) it->second = probability;
  }
}

}  // namespace

LookScheduler::LookScheduler(IngestState* state, int planning_threads, std::size_t schedule_entries,
                             const std::function<void()>& started)
    : state_(state),
      schedule_entries_(schedule_entries),
      planners_(std::make_unique<ParallelLoop>(planning_threads, started)) {
  CRM_CHECK(schedule_entries > 0);
}

void LookScheduler::Enable(AlertContext context) {
  CRM_CHECK(context.scorers == nullptr || context.policy != nullptr);
  context_ = context;
}

void LookScheduler::Look(PendingCommit& pending, const CustomerId& id,
                         PendingCommit::Customer& customer, PendingCommit::Partition& partition,
                         Timestamp at) {
  const AlertPolicy& policy = *context_.policy;
  CustomerState& state = customer.state;
  AlertState& alert = state.alert;
  const Scorer& scorer = *pending.scorer;
  // Appetence on every look, a prospect's included (whose looks are their
  // touchpoints): the offer index.
  OutlookMemo outlook;  // the purchase outlook at `at`, for both
  IndexAppetence(scorer.Appetence(state, at, &outlook), policy.risk_precision, alert);
  if (state.purchase_days.empty()) {
    customer.plan = nullptr;
    Reschedule(id, alert, partition, std::nullopt);
    return;
  }
  const PopulationView* population = pending.view.get();
  // The churn and segment alone on every look; the full scores only for an alert.
  const double churn = scorer.Churn(state, at, &outlook);
  pending.look_churns.push_back(churn);
  const Segment segment = population != nullptr
                              ? population->AbcSegment(state.purchase_amount - state.return_amount)
                              : Segment::kNone;
  const AlertOutcome outcome = UpdateAlert(id, churn, segment, at, policy, alert);
  if (!alert.indexed_churn ||
      std::fabs(churn - *alert.indexed_churn) >= policy.risk_precision / 2) {
    alert.indexed_churn = churn;
  }
  alert.looked_at = at;
  alert.last_segment = segment;
  const AlertThresholds& thresholds = policy.For(segment);
  // The next look is planned at the commit, with the other customers' (on
  // the planning threads), or before anything needs it.
  Reschedule(id, alert, partition, std::nullopt);
  if (customer.plan == nullptr) partition.unplanned.emplace_back(id, &customer);
  customer.plan = &thresholds;
  if (outcome.transition == AlertTransition::kNone) return;
  if (outcome.transition == AlertTransition::kRaised) {
    ++partition.state.open_alerts;
  } else {
    // A clear follows its raise, counted in the same partition.
    CRM_DCHECK(partition.state.open_alerts > 0);
    if (partition.state.open_alerts > 0) --partition.state.open_alerts;
  }
  const Scores scores = scorer.Score(id, state, at, population);
  AlertEvent& event = pending.alerts.emplace_back();
  event.customer_id = id;
  event.outcome = outcome;
  if (outcome.transition == AlertTransition::kCleared) {
    // A purchase since the raise (the look of that purchase, or a later one)
    // is what cleared it; else the churn fell by itself.
    const bool bought =
        state.last_purchase && alert.raised_at && *state.last_purchase >= *alert.raised_at;
    event.cleared_reason = bought ? ClearedReason::kPurchased : ClearedReason::kScoreFell;
  }
  event.at = at;
  event.churn = churn;
  event.segment = scores.segment;
  event.action = RecommendAction(scores.quadrant, scores.lifecycle_stage, churn, thresholds);
  event.channel = RecommendedChannel(state, scores.value_at_risk, policy);
  event.exclusion = Exclusion(event, at, policy.marketing, state);
  if (outcome.transition == AlertTransition::kRaised &&
      (event.exclusion == MarketingExclusion::kNone ||
       event.exclusion == MarketingExclusion::kControlGroup)) {
    StartFollowUp({.number = alert.raised,
                   .raised_at = at,
                   .control = alert.control,
                   .action = event.action,
                   .segment = event.segment},
                  alert.follow_ups);
  }
  event.value_at_risk = scores.value_at_risk;
  event.clv = scores.clv;
  event.quadrant = scores.quadrant;
  event.lifecycle_stage = scores.lifecycle_stage;
  event.p_alive = scores.p_alive;
  event.reasons = scores.reasons;
  event.model_version = scores.model_version;
}

void LookScheduler::FollowUp(const Touchpoint& touchpoint, CustomerState& state) const {
  crm::FollowUp(touchpoint, context_.policy->marketing.outcome_window, state.alert.follow_ups);
}

void LookScheduler::TakeDue(PendingCommit& pending, const CustomerId& id,
                            PendingCommit::Customer& customer, PendingCommit::Partition& partition,
                            Timestamp until) {
  // A look is planned later than the look that plans it.
  if (customer.plan != nullptr && until > *customer.state.alert.looked_at) {
    Plan(pending, id, customer, partition);
  }
  while (customer.state.alert.next_look && *customer.state.alert.next_look <= until) {
    Look(pending, id, customer, partition, *customer.state.alert.next_look);
    ++pending.looks_due;
    if (customer.plan != nullptr) Plan(pending, id, customer, partition);
  }
}

void LookScheduler::Plan(PendingCommit& pending, const CustomerId& id,
                         PendingCommit::Customer& customer, PendingCommit::Partition& partition) {
  PlanNextLook(*pending.scorer, context_.policy->risk_precision, customer);
  Reschedule(id, customer.state.alert, partition, customer.state.alert.next_look);
}

void LookScheduler::PlanPartition(PendingCommit& pending, PendingCommit::Partition& partition) {
  for (const auto& [id, customer] : partition.unplanned) {
    if (customer->plan != nullptr) Plan(pending, id, *customer, partition);
  }
  partition.unplanned.clear();
}

absl::StatusOr<LookSchedule*> LookScheduler::ScheduleOf(std::int32_t partition) {
  const auto found = schedules_.find(partition);
  if (found != schedules_.end()) return &found->second;
  return Load(partition);
}

absl::StatusOr<LookSchedule*> LookScheduler::Load(std::int32_t partition) {
  auto schedule =
      LookSchedule::Build(*state_->store, partition, schedule_entries_, state_->assigned.size());
  if (!schedule.ok()) return schedule.status();
  absl::MutexLock lock(&mutex_);
  auto [it, added] = schedules_.insert_or_assign(partition, std::move(*schedule));
  return &it->second;
}

absl::StatusOr<std::optional<DueEntry>> LookScheduler::NextDue(PendingCommit& pending,
                                                               std::int32_t partition,
                                                               PendingCommit::Partition& part,
                                                               Timestamp until) {
  // The earliest committed entry not superseded by the pending commit.
  const DueEntry* committed = nullptr;
  for (bool loaded = false;;) {
    auto schedule = ScheduleOf(partition);
    if (!schedule.ok()) return schedule.status();
    committed = (*schedule)->After(part.taken_until);
    while (committed != nullptr && pending.customers.contains(committed->customer)) {
      part.taken_until = *committed;  // superseded for as long as the commit lasts
      committed = (*schedule)->After(*committed);
    }
    const std::optional<DueEntry>& floor = (*schedule)->floor();
    // Past the looks held, those of the store's states, read again.
    if (committed != nullptr || !floor || floor->at > until) break;
    if (loaded) {
      // This commit took every look the schedule holds: commit it first.
      part.schedule_full = true;
      return std::nullopt;
    }
    if (auto reloaded = Load(partition); !reloaded.ok()) return reloaded.status();
    loaded = true;
  }
  const DueEntry* next = committed;
  if (!part.due.empty() && (next == nullptr || *part.due.begin() < *next)) {
    next = &*part.due.begin();
  }
  if (next == nullptr || next->at > until) return std::nullopt;
  if (next == committed) part.taken_until = *committed;
  return *next;
}

absl::StatusOr<bool> LookScheduler::TakeDue(PendingCommit& pending, std::int32_t partition,
                                            Timestamp until, std::size_t* budget,
                                            std::size_t max_customers) {
  for (;;) {
    if (budget != nullptr && *budget == 0) return true;
    if (pending.customers.size() >= max_customers) return false;
    auto p = pending.PartitionOf(partition);
    if (!p.ok()) return p.status();
    PendingCommit::Partition& part = **p;
    PlanPartition(pending, part);
    auto next = NextDue(pending, partition, part, until);
    if (!next.ok()) return next.status();
    if (!*next) return !part.schedule_full;
    const DueEntry& entry = **next;
    auto customer = pending.CustomerOf(entry.customer, partition, part, /*known_only=*/true);
    if (!customer.ok()) return customer.status();
    if (*customer == nullptr || (*customer)->state.alert.next_look != entry.at) {
      // An entry no state backs (an erased customer, a look already moved): drop it.
      pending.stale_due.emplace_back(partition, entry);
      continue;
    }
    Look(pending, entry.customer, **customer, part, entry.at);
    ++pending.looks_due;
    if (budget != nullptr) --*budget;
  }
}

void LookScheduler::PlanAll(PendingCommit& pending) {
  std::vector<PendingCommit::Customer*> unplanned;
  for (auto& [id, customer] : pending.customers) {
    if (customer.plan != nullptr) unplanned.push_back(&customer);
  }
  if (unplanned.empty()) return;
  const Scorer& scorer = *pending.scorer;
  const double precision = context_.policy->risk_precision;
  planners_->Run(unplanned.size(),
                 [&](std::size_t i) { PlanNextLook(scorer, precision, *unplanned[i]); });
}

void LookScheduler::Committed(const PendingCommit& pending) {
  absl::MutexLock lock(&mutex_);
  // The entries no state backs go first: a customer's own may follow.
  for (const auto& [partition, entry] : pending.stale_due) {
    const auto schedule = schedules_.find(partition);
    if (schedule != schedules_.end()) schedule->second.Move(entry.customer, entry.at, std::nullopt);
  }
  for (const auto& [id, customer] : pending.customers) {
    const auto schedule = schedules_.find(customer.partition);
    if (schedule == schedules_.end()) continue;  // read from the store when needed
    schedule->second.Move(id, customer.due_before, customer.state.alert.next_look);
  }
}

void LookScheduler::Forget(std::int32_t partition) {
  absl::MutexLock lock(&mutex_);
  schedules_.erase(partition);
}

void LookScheduler::Clear() {
  absl::MutexLock lock(&mutex_);
  schedules_.clear();
}

ScheduleBacklog LookScheduler::Backlog(Timestamp until, std::uint64_t cap) const {
  absl::MutexLock lock(&mutex_);
  ScheduleBacklog total;
  for (const auto& [partition, schedule] : schedules_) {
    const ScheduleBacklog backlog = schedule.Backlog(until, cap - total.due);
    total.due += backlog.due;
    if (backlog.earliest && (!total.earliest || *backlog.earliest < *total.earliest)) {
      total.earliest = backlog.earliest;
    }
  }
  return total;
}

}  // namespace crm
