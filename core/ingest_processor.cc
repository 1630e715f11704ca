#include "core/ingest_processor.h"

#include <algorithm>
#include <string>
#include <utility>
#include <variant>

#include "core/check.h"

namespace crm {
namespace {

// What each choice of IngestMode points at; null for the alternative
// without a port.
RejectSink* DeadLetterSink(const IngestMode& mode) {
  const auto* dead_letters = std::get_if<DeadLetters>(&mode.rejects);
  if (dead_letters == nullptr) return nullptr;
  CRM_CHECK(dead_letters->sink != nullptr);
  return dead_letters->sink;
}
PopulationBoard* PopulationBoardOf(const IngestMode& mode) {
  const auto* published = std::get_if<PublishedPopulation>(&mode.population);
  if (published == nullptr) return nullptr;
  CRM_CHECK(published->board != nullptr);
  return published->board;
}
EventClock* FedClock(const IngestMode& mode) {
  const auto* fed = std::get_if<FeedEventClock>(&mode.event_clock);
  if (fed == nullptr) return nullptr;
  CRM_CHECK(fed->clock != nullptr);
  return fed->clock;
}

}  // namespace

IngestProcessor::IngestProcessor(IngestOptions options, StateStore* store, const Clock* clock,
                                 IngestProbe* probe, IngestMode mode)
    : options_(std::move(options)),
      clock_(clock),
      probe_(probe),
      rejects_(DeadLetterSink(mode)),
      state_(std::make_unique<IngestState>(store, options_.topic, options_.cache_entries,
                                           options_.cache_bytes, probe, PopulationBoardOf(mode),
                                           FedClock(mode))),
      looks_(std::make_unique<LookScheduler>(state_.get(), options_.planning_threads,
                                             options_.schedule_entries, options_.planner_started)),
      handover_(std::make_unique<PartitionHandOver>(state_.get(), looks_.get(), clock)),
      eraser_(std::make_unique<Eraser>(state_.get(), handover_.get(), clock,
                                       options_.erasure_fence_ttl)) {
  CRM_CHECK(options_.shared == nullptr || options_.encode);
  if (options_.alert_sequence != nullptr) state_->alert_sequence = options_.alert_sequence;
  state_->cache.Share(options_.shared);
}

IngestProcessor::~IngestProcessor() = default;
IngestProcessor::IngestProcessor(IngestProcessor&&) noexcept = default;

void IngestProcessor::EnableAlerts(AlertContext context) { looks_->Enable(context); }

void IngestProcessor::EnableChangelog(ChangelogContext context) {
  handover_->Enable(std::move(context));
}

void IngestProcessor::AlertDelivered(const AlertEvent& alert) { handover_->AlertDelivered(alert); }

absl::StatusOr<RestoreResult> IngestProcessor::RestorePartition(
    std::int32_t partition, const std::function<void(std::uint64_t)>& progress) {
  return handover_->RestorePartition(partition, progress);
}

std::vector<PopulationCell> IngestProcessor::PopulationCells(std::int32_t partition) const {
  return state_->population.Cells(partition);
}

std::uint64_t IngestProcessor::PopulationVersion(std::int32_t partition) const {
  return state_->population.Version(partition);
}

absl::StatusOr<bool> IngestProcessor::Erase(const CustomerId& id) {
  return Erase({.customer = id, .requested_at = clock_->Now()});
}

absl::StatusOr<bool> IngestProcessor::Erase(const ErasureRequest& request) {
  return eraser_->Erase(request);
}

absl::Status IngestProcessor::TakeErasures(ErasureQueue& queue, AuditLog& audit) {
  return eraser_->TakeErasures(queue, audit);
}

absl::Status IngestProcessor::Load() {
  IngestState& state = *state_;
  auto cells = state.store->LoadPopulation(options_.topic);
  if (!cells.ok()) return cells.status();
  state.population = Population();
  for (const PopulationCell& cell : *cells) state.population.Restore(cell);
  state.PublishPopulation();
  auto latest = state.store->LoadLatestEventTime(options_.topic);
  if (!latest.ok()) return latest.status();
  state.SetLatestEvent(*latest);
  auto last_alert = state.store->LastPendingAlert();
  if (!last_alert.ok()) return last_alert.status();
  state.alert_sequence->StartAfter(*last_alert);
  return absl::OkStatus();
}

absl::Status IngestProcessor::SetAssignment(const std::vector<std::int32_t>& partitions) {
  ClearCache();
  IngestState& state = *state_;
  for (std::int32_t p : state.assigned) {
    if (std::find(partitions.begin(), partitions.end(), p) == partitions.end()) {
      probe_->OpenAlerts(p, 0);  // no longer ours to report
    }
  }
  state.assigned = std::set<std::int32_t>(partitions.begin(), partitions.end());
  state.assignment_known = true;
  state.population.SetOwned(state.assigned);
  state.PublishPopulation();
  for (std::int32_t p : state.assigned) {
    auto committed = state.Partition(p);
    if (!committed.ok()) return committed.status();
    probe_->OpenAlerts(p, committed->open_alerts);
  }
  return absl::OkStatus();
}

void IngestProcessor::TakeRemotePopulation(RemotePopulationInbox& inbox) {
  std::map<std::int32_t, std::vector<PopulationCell>> published = inbox.Take();
  if (published.empty()) return;
  for (const auto& [partition, cells] : published) state_->population.SetRemote(partition, cells);
  state_->PublishPopulation();
}

void IngestProcessor::ClearCache() {
  state_->cache.Clear();
  state_->partitions.clear();
  looks_->Clear();
}

std::unique_ptr<PendingCommit> IngestProcessor::NewPending(
    Timestamp started, const std::vector<InputRecord>* input) const {
  std::shared_ptr<const Scorer> scorer;
  std::shared_ptr<const PopulationView> view;
  if (looks_->enabled()) {
    scorer = looks_->context().scorers->Current();
    view = state_->board != nullptr ? state_->board->Current() : state_->population.View();
  }
  return std::make_unique<PendingCommit>(state_.get(), started, input, std::move(scorer),
                                         std::move(view));
}

absl::Status IngestProcessor::TakeDueLooks(std::unique_ptr<PendingCommit>& pending,
                                           std::int32_t partition, Timestamp until,
                                           std::size_t* budget, BatchResult& result) {
  for (;;) {
    absl::StatusOr<bool> done =
        looks_->TakeDue(*pending, partition, until, budget, options_.max_customers_per_commit);
    if (!done.ok()) return done.status();
    if (*done) return absl::OkStatus();
    if (absl::Status s = Commit(pending, result); !s.ok()) return s;
  }
}

absl::StatusOr<BatchResult> IngestProcessor::ProcessOnly(const std::vector<InputRecord>& records,
                                                         const std::vector<std::size_t>* only) {
  if (absl::Status s = handover_->Resync(); !s.ok()) return s;
  const Timestamp started = clock_->Now();
  BatchResult result;
  std::unique_ptr<PendingCommit> pending = NewPending(started, &records);
  const std::size_t count = only != nullptr ? only->size() : records.size();
  probe_->Consumed(count);
  for (std::size_t n = 0; n < count; ++n) {
    const std::size_t i = only != nullptr ? (*only)[n] : n;
    if (pending->customers.size() >= options_.max_customers_per_commit) {
      if (absl::Status s = Commit(pending, result); !s.ok()) return s;
    }
    if (absl::Status s = Apply(pending, i, records[i], result); !s.ok()) return s;
  }
  if (absl::Status s = Commit(pending, result); !s.ok()) return s;
  probe_->BatchCommitted(count, clock_->Now() - started);
  return result;
}

absl::Status IngestProcessor::Apply(std::unique_ptr<PendingCommit>& pending, std::size_t index,
                                    const InputRecord& record, BatchResult& result) {
  state_->assigned.insert(record.partition);
  auto p = pending->PartitionOf(record.partition);
  if (!p.ok()) return p.status();
  const auto pass_over = [&](PendingCommit::Partition& part) {
    part.state.next_offset = std::max(part.state.next_offset.value_or(0), record.offset + 1);
    ++pending->records;
    return absl::OkStatus();
  };
  if (const auto* rejection = std::get_if<Rejection>(&record.payload)) {
    probe_->Rejected(rejection->reason);
    pending->rejected.push_back({index, *rejection});
    return pass_over(**p);
  }
  const auto& touchpoint = std::get<Touchpoint>(record.payload);
  if (auto rejection =
          ValidateTouchpoint(touchpoint, record.key, pending->started, options_.validation)) {
    probe_->Rejected(rejection->reason);
    pending->rejected.push_back({index, std::move(*rejection)});
    return pass_over(**p);
  }
  // Of a customer erased after it occurred, arriving late: dropped (not
  // applied, not sent to the dead-letter topic), its offset passed over.
  if (ErasedAfter((*p)->state, touchpoint)) {
    ++result.erased;
    probe_->ErasedSkipped();
    return pass_over(**p);
  }
  // The partition's event time moves on; on the event clock, the looks it
  // passed are taken before this record.
  std::optional<Timestamp>& watermark = (*p)->state.watermark;
  if (!watermark || touchpoint.occurred_at > *watermark) watermark = touchpoint.occurred_at;
  const Timestamp partition_time = *watermark;
  if (looks_->on_event_clock()) {
    if (absl::Status s = TakeDueLooks(pending, record.partition, partition_time, nullptr, result);
        !s.ok()) {
      return s;
    }
    p = pending->PartitionOf(record.partition);  // the pending commit may be a new one
    if (!p.ok()) return p.status();
  }
  return ApplyToCustomer(*pending, **p, index, record, partition_time, result);
}

absl::Status IngestProcessor::ApplyToCustomer(PendingCommit& pending,
                                              PendingCommit::Partition& part, std::size_t index,
                                              const InputRecord& record, Timestamp partition_time,
                                              BatchResult& result) {
  const auto& touchpoint = std::get<Touchpoint>(record.payload);
  auto customer = pending.CustomerOf(touchpoint.customer_id, record.partition, part);
  if (!customer.ok()) return customer.status();
  CustomerState& state = (*customer)->state;
  const bool looking = looks_->enabled();
  // A look due before this touchpoint is taken first.
  if (looking)
    looks_->TakeDue(pending, touchpoint.customer_id, **customer, part, touchpoint.occurred_at);
  const ApplyOutcome outcome = crm::ApplyTouchpoint(touchpoint, options_.limits, state);
  if (outcome == ApplyOutcome::kDuplicate) {
    ++result.duplicates;
    probe_->DuplicateSkipped();
  } else if (outcome == ApplyOutcome::kTooLarge) {
    Rejection rejection(RejectReason::kStateTooLarge,
                        "the customer's state would exceed max_state_bytes (" +
                            std::to_string(options_.limits.max_state_bytes) + "; " +
                            std::to_string(StateBytes(state)) + " held)");
    probe_->Rejected(rejection.reason);
    pending.rejected.push_back({index, std::move(rejection)});
    // A customer this touchpoint would have created: nothing to write.
    if (state.events_applied == 0) pending.customers.erase(touchpoint.customer_id);
  } else {
    state.partition = record.partition;
    pending.touchpoints.push_back({record.partition, state.events_applied, &touchpoint});
    ++result.applied;
    probe_->Applied(touchpoint.type);
    if (!pending.latest_event || touchpoint.occurred_at > *pending.latest_event) {
      pending.latest_event = touchpoint.occurred_at;
    }
    if (looking) {
      looks_->FollowUp(touchpoint, state);
      CRM_DCHECK(state.last_seen.has_value());  // set by the touchpoint applied
      // As of their latest event, or their latest look if later (a late
      // touchpoint): a customer's looks never go back in time.
      const Timestamp at =
          std::max(*state.last_seen, state.alert.looked_at.value_or(*state.last_seen));
      looks_->Look(pending, touchpoint.customer_id, **customer, part, at);
      // A late touchpoint may leave a look already passed by the partition.
      if (looks_->on_event_clock()) {
        looks_->TakeDue(pending, touchpoint.customer_id, **customer, part, partition_time);
      }
    }
  }
  part.state.next_offset = std::max(part.state.next_offset.value_or(0), record.offset + 1);
  ++pending.records;
  return absl::OkStatus();
}

absl::StatusOr<BatchResult> IngestProcessor::TakeDueLooks(std::size_t limit) {
  if (absl::Status s = handover_->Resync(); !s.ok()) return s;
  BatchResult result;
  const Clock* wall = looks_->context().clock;
  if (!looks_->enabled() || wall == nullptr) return result;
  const Timestamp now = wall->Now();
  std::unique_ptr<PendingCommit> pending = NewPending(clock_->Now(), nullptr);
  std::size_t budget = limit;
  for (std::int32_t partition : state_->assigned) {
    if (absl::Status s = TakeDueLooks(pending, partition, now, &budget, result); !s.ok()) return s;
  }
  if (absl::Status s = Commit(pending, result); !s.ok()) return s;
  return result;
}

absl::Status IngestProcessor::SendRejects(const PendingCommit& pending) {
  if (rejects_ == nullptr || pending.rejected.empty()) return absl::OkStatus();
  CRM_CHECK(pending.input != nullptr);  // records were rejected from it
  for (const RejectedRecord& rejected : pending.rejected) {
    const InputRecord& record = (*pending.input)[rejected.index];
    absl::Status sent = rejects_->Send(record.partition, record.offset, record.key, record.value,
                                       rejected.rejection);
    if (!sent.ok()) return sent;
  }
  absl::StatusOr<std::uint64_t> passed_over = rejects_->Flush();
  if (!passed_over.ok()) return passed_over.status();
  if (*passed_over > 0) probe_->DeadLetterFailed(*passed_over);
  return absl::OkStatus();
}

absl::Status IngestProcessor::Commit(std::unique_ptr<PendingCommit>& pending, BatchResult& result) {
  PendingCommit& c = *pending;
  if (!c.empty()) {
    if (absl::Status s = SendRejects(c); !s.ok()) return s;
    if (looks_->enabled()) looks_->PlanAll(c);
    StateBatch batch = c.Batch();
    if (options_.encode) {
      batch.encoded.reserve(batch.customers.size());
      for (const auto& [id, state] : batch.customers) {
        batch.encoded.push_back(options_.encode(*state));
      }
    }
    // On failure the population goes back to the committed one, and the
    // cache forgets the states the commit took from it (read again from the
    // store, as committed) when it is dropped.
    if (absl::Status status = handover_->Commit(batch); !status.ok()) {
      c.Rollback();
      return status;
    }
    looks_->Committed(c);
    c.Committed(batch, result);
  }
  pending = NewPending(c.started, c.input);
  return absl::OkStatus();
}

}  // namespace crm
