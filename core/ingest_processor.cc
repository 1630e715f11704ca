#include "core/ingest_processor.h"

#include <map>
#include <optional>
#include <unordered_map>

namespace crm {

IngestProcessor::IngestProcessor(IngestOptions options, StateStore* store, const Clock* clock,
                                 IngestProbe* probe, RejectSink* rejects,
                                 PopulationBoard* population, EventClock* event_clock)
    : options_(std::move(options)),
      store_(store),
      clock_(clock),
      probe_(probe),
      rejects_(rejects),
      board_(population),
      event_clock_(event_clock),
      cache_(options_.cache_entries) {}

absl::Status IngestProcessor::Load() {
  auto cells = store_->LoadPopulation(options_.topic);
  if (!cells.ok()) return cells.status();
  population_ = Population();
  for (const PopulationCell& cell : *cells) population_.Restore(cell);
  if (board_ != nullptr) board_->Publish(population_.View());
  auto latest = store_->LoadLatestEventTime(options_.topic);
  if (!latest.ok()) return latest.status();
  latest_event_ = *latest;
  if (event_clock_ != nullptr && latest_event_) event_clock_->Observe(*latest_event_);
  auto last_alert = store_->LastPendingAlert();
  if (!last_alert.ok()) return last_alert.status();
  next_alert_ = last_alert->has_value() ? **last_alert + 1 : 0;
  return absl::OkStatus();
}

absl::StatusOr<BatchResult> IngestProcessor::Process(const std::vector<InputRecord>& records) {
  const Timestamp started = clock_->Now();
  BatchResult result;
  struct Dirty {
    CustomerState state;
    std::int32_t partition = 0;
    std::optional<PopulationEntry> before;  // in the committed population
  };
  std::unordered_map<CustomerId, Dirty> dirty;
  std::map<std::int32_t, std::int64_t> next_offsets;
  std::optional<Timestamp> latest_event = latest_event_;

  probe_->Consumed(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    const InputRecord& record = records[i];
    std::int64_t& next = next_offsets[record.partition];
    next = std::max(next, record.offset + 1);

    if (const auto* rejection = std::get_if<Rejection>(&record.payload)) {
      probe_->Rejected(rejection->reason);
      result.rejected.push_back({i, *rejection});
      continue;
    }
    const auto& touchpoint = std::get<Touchpoint>(record.payload);
    if (auto rejection = ValidateTouchpoint(touchpoint, record.key, started, options_.validation)) {
      probe_->Rejected(rejection->reason);
      result.rejected.push_back({i, std::move(*rejection)});
      continue;
    }

    auto it = dirty.find(touchpoint.customer_id);
    if (it == dirty.end()) {
      CustomerState state;
      if (const CustomerState* cached = cache_.Find(touchpoint.customer_id)) {
        state = *cached;
      } else {
        auto stored = store_->Get(touchpoint.customer_id);
        if (!stored.ok()) return stored.status();
        if (*stored) state = std::move(**stored);
      }
      std::optional<PopulationEntry> before = PopulationEntryOf(state);
      it = dirty.emplace(touchpoint.customer_id, Dirty{std::move(state), record.partition, before})
               .first;
    }
    if (ApplyTouchpoint(touchpoint, options_.limits, it->second.state) ==
        ApplyOutcome::kDuplicate) {
      ++result.duplicates;
      probe_->DuplicateSkipped();
    } else {
      ++result.applied;
      probe_->Applied(touchpoint.type);
      if (!latest_event || touchpoint.occurred_at > *latest_event) {
        latest_event = touchpoint.occurred_at;
      }
    }
  }

  if (rejects_ != nullptr && !result.rejected.empty()) {
    for (const RejectedRecord& rejected : result.rejected) {
      const InputRecord& record = records[rejected.index];
      absl::Status sent = rejects_->Send(record.partition, record.offset, record.key, record.value,
                                         rejected.rejection);
      if (!sent.ok()) return sent;
    }
    if (absl::Status flushed = rejects_->Flush(); !flushed.ok()) return flushed;
  }

  StateBatch batch;
  batch.customers.reserve(dirty.size());
  std::vector<std::pair<const Dirty*, std::optional<PopulationEntry>>> moved;
  for (const auto& [id, customer] : dirty) {
    batch.customers.emplace_back(&id, &customer.state);
    std::optional<PopulationEntry> after = PopulationEntryOf(customer.state);
    if (after == customer.before) continue;
    population_.Replace(customer.partition, customer.before, after, &batch.population);
    moved.emplace_back(&customer, after);
  }
  for (const auto& [partition, next] : next_offsets) batch.offsets.push_back({partition, next});
  if (latest_event != latest_event_) batch.latest_event_time = latest_event;
  std::shared_ptr<const PopulationView> view;
  if (!moved.empty() && (board_ != nullptr || alerts_.scorers != nullptr)) {
    view = population_.View();
  }
  if (alerts_.scorers != nullptr) {
    if (view == nullptr) view = board_ != nullptr ? board_->Current() : population_.View();
    view_for_alerts_ = view;
    const Timestamp now = EvaluationNow(latest_event);
    for (auto& [id, customer] : dirty) {
      Reevaluate(id, customer.state, now, batch, result.alerts);
    }
    AddToOutbox(result.alerts, batch);
  }

  // On failure the cache still holds the committed states (the batch worked
  // on copies) and the population goes back to the committed one.
  if (absl::Status status = store_->Commit(options_.topic, batch); !status.ok()) {
    for (const auto& [customer, after] : moved) {
      population_.Replace(customer->partition, after, customer->before, nullptr);
    }
    return status;
  }
  if (board_ != nullptr && !moved.empty()) board_->Publish(view);
  latest_event_ = latest_event;
  if (event_clock_ != nullptr && latest_event_) event_clock_->Observe(*latest_event_);
  for (auto& [id, customer] : dirty) cache_.Put(id, std::move(customer.state));
  ReportAlerts(result.alerts);
  probe_->BatchCommitted(records.size(), clock_->Now() - started);
  return result;
}

void IngestProcessor::ReportAlerts(const std::vector<AlertEvent>& alerts) {
  for (const AlertEvent& alert : alerts) {
    probe_->AlertChanged(alert.outcome.transition == AlertTransition::kRaised, alert.action,
                         alert.segment);
  }
}

void IngestProcessor::AddToOutbox(const std::vector<AlertEvent>& alerts, StateBatch& batch) {
  for (const AlertEvent& alert : alerts) {
    if (alert.outcome.transition == AlertTransition::kRaised) {
      batch.outbox.emplace_back(next_alert_++, &alert);
    }
  }
}

Timestamp IngestProcessor::EvaluationNow(std::optional<Timestamp> latest_event) const {
  if (alerts_.clock != nullptr) return alerts_.clock->Now();
  return latest_event.value_or(FromMicros(0));
}

void IngestProcessor::Reevaluate(const CustomerId& id, CustomerState& state, Timestamp now,
                                 StateBatch& batch, std::vector<AlertEvent>& alerts) {
  AlertState& alert = state.alert;
  if (state.purchase_days.empty()) {
    // A prospect has nothing to lose yet: never alerted, never scheduled.
    if (alert.next_evaluation) batch.due.push_back({&id, alert.next_evaluation, std::nullopt});
    alert.next_evaluation.reset();
    return;
  }
  const std::shared_ptr<const Scorer> scorer = alerts_.scorers->Current();
  const PopulationView* population = view_for_alerts_.get();
  // The churn and segment alone on every look; the full scores only for an alert.
  const double churn = scorer->Churn(state, now);
  const std::string segment =
      population != nullptr ? population->AbcSegment(state.purchase_amount - state.return_amount)
                            : "";
  const AlertOutcome outcome = EvaluateAlert(id, churn, segment, now, *alerts_.policy, alert);
  alert.evaluated_at = now;
  alert.last_segment = segment;
  const AlertThresholds& thresholds = alerts_.policy->For(segment);
  const auto horizon = std::chrono::duration_cast<Micros>(
      std::chrono::duration<double, std::ratio<86400>>(scorer->model().churn.horizon_days));
  const Timestamp next = NextEvaluation([&](Timestamp t) { return scorer->Churn(state, t); }, now,
                                        alert, thresholds, horizon);
  batch.due.push_back({&id, alert.next_evaluation, next});
  alert.next_evaluation = next;
  if (outcome.transition == AlertTransition::kNone) return;
  const Scores scores = scorer->Score(id, state, now, population);
  AlertEvent event;
  event.customer_id = id;
  event.outcome = outcome;
  event.at = now;
  event.churn = scores.churn;
  event.segment = scores.segment;
  event.action = RecommendedAction(scores.quadrant, scores.churn, thresholds);
  event.channel = RecommendedChannel(state, *alerts_.policy);
  event.reasons = scores.reasons;
  event.model_version = scores.model_version;
  alerts.push_back(std::move(event));
}

absl::StatusOr<IngestProcessor::RescoreResult> IngestProcessor::RescoreDue(std::size_t limit) {
  RescoreResult result;
  if (alerts_.scorers == nullptr) return result;
  const Timestamp now = EvaluationNow(latest_event_);
  auto due = store_->Due(now, limit);
  if (!due.ok()) return due.status();
  if (due->empty()) return result;
  std::vector<std::pair<CustomerId, CustomerState>> customers;
  customers.reserve(due->size());
  for (CustomerId& id : *due) {
    CustomerState state;
    if (const CustomerState* cached = cache_.Find(id)) {
      state = *cached;
    } else {
      auto stored = store_->Get(id);
      if (!stored.ok()) return stored.status();
      if (!*stored) continue;  // erased since
      state = std::move(**stored);
    }
    customers.emplace_back(std::move(id), std::move(state));
  }
  StateBatch batch;
  view_for_alerts_ = board_ != nullptr ? board_->Current() : population_.View();
  for (auto& [id, state] : customers) {
    batch.customers.emplace_back(&id, &state);
    Reevaluate(id, state, now, batch, result.alerts);
  }
  AddToOutbox(result.alerts, batch);
  if (absl::Status status = store_->Commit(options_.topic, batch); !status.ok()) return status;
  for (auto& [id, state] : customers) cache_.Put(id, std::move(state));
  result.rescored = customers.size();
  ReportAlerts(result.alerts);
  probe_->Rescored(result.rescored);
  return result;
}

}  // namespace crm
