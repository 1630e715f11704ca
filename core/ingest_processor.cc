#include "core/ingest_processor.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "core/bounded_text.h"

namespace crm {
namespace {

// Whether `touchpoint` occurred before its customer was erased (an erasure
// fence of its partition), so that it must not bring them back.
bool ErasedAfter(const PartitionState& partition, const Touchpoint& touchpoint) {
  if (partition.erasure_fences.empty()) return false;
  const auto fence = partition.erasure_fences.find(EventIdHash(touchpoint.customer_id.value()));
  return fence != partition.erasure_fences.end() && touchpoint.occurred_at <= fence->second;
}

// Time index entries read from the store at once: few at first (the first is
// usually not due yet), more as a partition's looks come due.
constexpr std::size_t kFirstDuePage = 8;
constexpr std::size_t kDuePage = 256;

}  // namespace

// One commit in the making: the customers it changed (working copies; the
// cache keeps the committed states), the partitions' progress, and a view of
// each partition's time index as it stands with the chunk's changes.
struct IngestProcessor::Chunk {
  struct Dirty {
    CustomerState state;
    std::int32_t partition = 0;
    // As committed, to move the population and the indexes at commit.
    std::optional<PopulationEntry> population_before;
    std::optional<Timestamp> due_before;
    std::optional<double> risk_before;
    // Looked at, the next look not planned yet: the thresholds it is planned
    // against (see PlanNextLook).
    const AlertThresholds* plan = nullptr;
  };
  struct Partition {
    PartitionState state;  // committed, then moved by the chunk
    // The committed time index, a page at a time from `fetched_until`;
    // entries of customers changed by the chunk are superseded by `due`.
    std::deque<DueEntry> committed;
    std::optional<DueEntry> fetched_until;
    bool exhausted = false;
    std::set<DueEntry> due;  // of the chunk's customers, but those not planned yet
    std::vector<std::pair<CustomerId, Dirty*>> unplanned;  // may hold planned ones
  };

  Timestamp started{};                              // wall clock, for validation
  const std::vector<InputRecord>* input = nullptr;  // the records being processed
  std::shared_ptr<const Scorer> scorer;
  std::shared_ptr<const PopulationView> view;  // segments of the looks
  std::unordered_map<CustomerId, Dirty> dirty;
  std::map<std::int32_t, Partition> partitions;
  std::vector<RejectedRecord> rejected;
  std::vector<AlertEvent> alerts;
  std::vector<std::pair<std::int32_t, DueEntry>> stale_due;  // index entries no state backs
  std::vector<double> look_churns;                           // of every look taken, for the probe
  std::optional<Timestamp> latest_event;
  std::size_t records = 0;
  std::size_t looks_due = 0;

  // States moved out of the cache into `dirty`: put back by a commit, or
  // forgotten (read again from the store) when the chunk is dropped.
  StateCache* cache = nullptr;
  std::vector<CustomerId> lent;
  bool committed = false;
  ~Chunk() {
    if (committed) return;
    for (const CustomerId& id : lent) cache->Erase(id);
  }
};

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
      cache_(options_.cache_entries, options_.cache_bytes),
      planners_(std::make_unique<ParallelLoop>(options_.planning_threads, "planner")) {}

IngestProcessor::~IngestProcessor() = default;
IngestProcessor::IngestProcessor(IngestProcessor&&) noexcept = default;

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

absl::Status IngestProcessor::SetAssignment(const std::vector<std::int32_t>& partitions) {
  ClearCache();
  for (std::int32_t p : assigned_) {
    if (std::find(partitions.begin(), partitions.end(), p) == partitions.end()) {
      probe_->OpenAlerts(p, 0);  // no longer ours to report
    }
  }
  assigned_ = std::set<std::int32_t>(partitions.begin(), partitions.end());
  assignment_known_ = true;
  population_.SetOwned(assigned_);
  if (board_ != nullptr) board_->Publish(population_.View());
  for (std::int32_t p : assigned_) {
    auto state = CommittedPartition(p);
    if (!state.ok()) return state.status();
    probe_->OpenAlerts(p, state->open_alerts);
  }
  return absl::OkStatus();
}

void IngestProcessor::TakeRemotePopulation(RemotePopulationInbox& inbox) {
  std::map<std::int32_t, std::vector<PopulationCell>> published = inbox.Take();
  if (published.empty()) return;
  for (const auto& [partition, cells] : published) population_.SetRemote(partition, cells);
  if (board_ != nullptr) board_->Publish(population_.View());
}

void IngestProcessor::ClearCache() {
  cache_.Clear();
  partitions_.clear();
  due_floor_.clear();
}

void IngestProcessor::MoveDueFloors(const Chunk& chunk) {
  // What is left of the committed entries the chunk read from: they come in
  // order, and those before the first left were taken, or superseded by the
  // chunk's customers.
  for (const auto& [partition, part] : chunk.partitions) {
    if (!part.committed.empty()) {
      due_floor_[partition] = part.committed.front().at;
    } else if (part.exhausted) {
      due_floor_[partition] = Timestamp::max();
    } else if (part.fetched_until) {
      due_floor_[partition] = part.fetched_until->at;
    }
  }
  // The chunk's customers' entries, written or kept.
  for (const auto& [id, customer] : chunk.dirty) {
    const std::optional<Timestamp>& due = customer.state.alert.next_evaluation;
    const auto floor = due_floor_.find(customer.partition);
    if (due && floor != due_floor_.end()) floor->second = std::min(floor->second, *due);
  }
}

absl::StatusOr<PartitionState> IngestProcessor::CommittedPartition(std::int32_t partition) {
  auto it = partitions_.find(partition);
  if (it != partitions_.end()) return it->second;
  auto stored = store_->GetPartition(options_.topic, partition);
  if (!stored.ok()) return stored.status();
  return partitions_.emplace(partition, stored->value_or(PartitionState{})).first->second;
}

std::unique_ptr<IngestProcessor::Chunk> IngestProcessor::NewChunk(
    Timestamp started, const std::vector<InputRecord>* input) {
  auto chunk = std::make_unique<Chunk>();
  chunk->cache = &cache_;
  chunk->started = started;
  chunk->input = input;
  chunk->latest_event = latest_event_;
  if (alerts_.scorers != nullptr) {
    chunk->scorer = alerts_.scorers->Current();
    chunk->view = board_ != nullptr ? board_->Current() : population_.View();
  }
  return chunk;
}

namespace {

using Chunk = IngestProcessor::Chunk;

// The chunk's view of `partition`, its committed state read on first use.
absl::StatusOr<Chunk::Partition*> PartitionOf(
    Chunk& chunk, std::int32_t partition,
    const std::function<absl::StatusOr<PartitionState>(std::int32_t)>& committed) {
  auto it = chunk.partitions.find(partition);
  if (it != chunk.partitions.end()) return &it->second;
  auto state = committed(partition);
  if (!state.ok()) return state.status();
  Chunk::Partition& p = chunk.partitions[partition];
  p.state = *state;
  return &p;
}

}  // namespace

namespace {

// The next look of a customer just looked at (the look is their alert
// state's evaluated_at), planned against `customer.plan`: pure, so that
// customers are planned on any thread.
void PlanNextLook(const Scorer& scorer, double precision, Chunk::Dirty& customer) {
  CustomerState& state = customer.state;
  const ChurnCurve curve(scorer, state);
  const auto horizon = std::chrono::duration_cast<Micros>(
      std::chrono::duration<double, std::ratio<86400>>(scorer.model().churn.horizon_days));
  state.alert.next_evaluation =
      NextEvaluation([&](Timestamp t) { return curve.At(t); }, *state.alert.evaluated_at,
                     state.alert, *customer.plan, precision, horizon);
  customer.plan = nullptr;
}

}  // namespace

// Everything a look needs, bound to one chunk.
class Looks {
 public:
  Looks(Chunk& chunk, const AlertPolicy& policy) : chunk_(chunk), policy_(policy) {}

  // Looks at `id` as of `at`: the alert raised or cleared, the next look
  // scheduled, the at-risk index moved (at commit). Prospects are never looked at.
  void Take(const CustomerId& id, Chunk::Dirty& customer, Chunk::Partition& partition,
            Timestamp at) {
    CustomerState& state = customer.state;
    AlertState& alert = state.alert;
    if (state.purchase_days.empty()) {
      customer.plan = nullptr;
      Reschedule(id, alert, partition, std::nullopt);
      return;
    }
    const Scorer& scorer = *chunk_.scorer;
    const PopulationView* population = chunk_.view.get();
    // The churn and segment alone on every look; the full scores only for an alert.
    const double churn = scorer.Churn(state, at);
    chunk_.look_churns.push_back(churn);
    const std::string segment =
        population != nullptr ? population->AbcSegment(state.purchase_amount - state.return_amount)
                              : "";
    const AlertOutcome outcome = EvaluateAlert(id, churn, segment, at, policy_, alert);
    if (!alert.indexed_churn ||
        std::fabs(churn - *alert.indexed_churn) >= policy_.risk_precision / 2) {
      alert.indexed_churn = churn;
    }
    alert.evaluated_at = at;
    alert.last_segment = segment;
    const AlertThresholds& thresholds = policy_.For(segment);
    // The next look is planned at the commit, with the other customers' (on
    // the planning threads), or before anything needs it.
    Reschedule(id, alert, partition, std::nullopt);
    if (customer.plan == nullptr) partition.unplanned.emplace_back(id, &customer);
    customer.plan = &thresholds;
    if (outcome.transition == AlertTransition::kNone) return;
    if (outcome.transition == AlertTransition::kRaised) {
      ++partition.state.open_alerts;
    } else if (partition.state.open_alerts > 0) {
      --partition.state.open_alerts;
    }
    const Scores scores = scorer.Score(id, state, at, population);
    AlertEvent& event = chunk_.alerts.emplace_back();
    event.customer_id = id;
    event.outcome = outcome;
    event.at = at;
    event.churn = scores.churn;
    event.segment = scores.segment;
    event.action = RecommendedAction(scores.quadrant, scores.churn, thresholds);
    event.channel = RecommendedChannel(state, policy_);
    event.reasons = scores.reasons;
    event.model_version = scores.model_version;
  }

  // Takes the customer's looks due at or before `until`, in order.
  void TakeDue(const CustomerId& id, Chunk::Dirty& customer, Chunk::Partition& partition,
               Timestamp until) {
    // A look is planned later than the look that plans it.
    if (customer.plan != nullptr && until > *customer.state.alert.evaluated_at) {
      Plan(id, customer, partition);
    }
    while (customer.state.alert.next_evaluation && *customer.state.alert.next_evaluation <= until) {
      Take(id, customer, partition, *customer.state.alert.next_evaluation);
      ++chunk_.looks_due;
      if (customer.plan != nullptr) Plan(id, customer, partition);
    }
  }

  // Plans the next look of every customer of the partition left unplanned,
  // so that its time index is whole.
  void PlanPartition(Chunk::Partition& partition) {
    for (const auto& [id, customer] : partition.unplanned) {
      if (customer->plan != nullptr) Plan(id, *customer, partition);
    }
    partition.unplanned.clear();
  }

 private:
  void Plan(const CustomerId& id, Chunk::Dirty& customer, Chunk::Partition& partition) {
    PlanNextLook(*chunk_.scorer, policy_.risk_precision, customer);
    Reschedule(id, customer.state.alert, partition, customer.state.alert.next_evaluation);
  }

  void Reschedule(const CustomerId& id, AlertState& alert, Chunk::Partition& partition,
                  std::optional<Timestamp> next) {
    if (alert.next_evaluation) partition.due.erase(DueEntry{*alert.next_evaluation, id});
    alert.next_evaluation = next;
    if (next) partition.due.insert(DueEntry{*next, id});
  }

  Chunk& chunk_;
  const AlertPolicy& policy_;
};

namespace {

// The customer's working state in the chunk, read from the cache or the store
// on first use; a new customer when unknown, or nullptr with `known_only`.
absl::StatusOr<Chunk::Dirty*> CustomerOf(Chunk& chunk, const CustomerId& id,
                                         std::int32_t partition_id, Chunk::Partition& partition,
                                         StateCache& cache, StateStore& store,
                                         bool known_only = false) {
  auto it = chunk.dirty.find(id);
  if (it != chunk.dirty.end()) return &it->second;
  Chunk::Dirty customer;
  // A state is kept under its partition: a cached one of another partition
  // (a producer that keyed the customer's touchpoints inconsistently) is not
  // this partition's.
  CustomerState* cached = cache.Lend(id);
  if (cached != nullptr && (cached->partition < 0 || cached->partition == partition_id)) {
    customer.state = std::move(*cached);
    chunk.lent.push_back(id);
  } else {
    auto stored = store.Get(partition_id, id);
    if (!stored.ok()) return stored.status();
    if (*stored) {
      customer.state = std::move(**stored);
    } else if (known_only) {
      return nullptr;
    }
  }
  customer.partition = partition_id;
  customer.population_before = PopulationEntryOf(customer.state);
  customer.due_before = customer.state.alert.next_evaluation;
  customer.risk_before = customer.state.alert.indexed_churn;
  // From now on the chunk's entry stands for the customer in the time index.
  if (customer.due_before) partition.due.insert(DueEntry{*customer.due_before, id});
  return &chunk.dirty.emplace(id, std::move(customer)).first->second;
}

}  // namespace

absl::Status IngestProcessor::TakeDueLooks(std::unique_ptr<Chunk>& chunk, std::int32_t partition,
                                           Timestamp until, std::size_t* budget,
                                           BatchResult& result) {
  const auto committed = [this](std::int32_t p) { return CommittedPartition(p); };
  for (;;) {
    if (budget != nullptr && *budget == 0) return absl::OkStatus();
    if (chunk->dirty.size() >= options_.max_customers_per_commit) {
      if (absl::Status s = Flush(chunk, result); !s.ok()) return s;
    }
    auto p = PartitionOf(*chunk, partition, committed);
    if (!p.ok()) return p.status();
    Chunk::Partition& part = **p;
    Looks(*chunk, *alerts_.policy).PlanPartition(part);
    // The earliest committed entry not superseded by the chunk.
    while (true) {
      while (!part.committed.empty() && chunk->dirty.contains(part.committed.front().customer)) {
        part.committed.pop_front();
      }
      if (!part.committed.empty() || part.exhausted) break;
      const auto floor = due_floor_.find(partition);
      const Timestamp not_before = floor == due_floor_.end() ? Timestamp::min() : floor->second;
      if (!part.fetched_until && not_before > until) break;  // nothing committed is due
      const std::size_t size = part.fetched_until ? kDuePage : kFirstDuePage;
      auto page = store_->Scheduled(partition, part.fetched_until, not_before, size);
      if (!page.ok()) return page.status();
      if (page->size() < size) part.exhausted = true;
      if (!page->empty()) part.fetched_until = page->back();
      part.committed.insert(part.committed.end(), page->begin(), page->end());
    }
    const DueEntry* next = nullptr;
    if (!part.committed.empty()) next = &part.committed.front();
    if (!part.due.empty() && (next == nullptr || *part.due.begin() < *next)) {
      next = &*part.due.begin();
    }
    if (next == nullptr || next->at > until) return absl::OkStatus();
    const DueEntry entry = *next;
    if (!part.committed.empty() && next == &part.committed.front()) part.committed.pop_front();
    auto customer = CustomerOf(*chunk, entry.customer, partition, part, cache_, *store_,
                               /*known_only=*/true);
    if (!customer.ok()) return customer.status();
    if (*customer == nullptr || (*customer)->state.alert.next_evaluation != entry.at) {
      // An entry no state backs (an erased customer, a look already moved): drop it.
      chunk->stale_due.emplace_back(partition, entry);
      continue;
    }
    Looks(*chunk, *alerts_.policy).Take(entry.customer, **customer, part, entry.at);
    ++chunk->looks_due;
    if (budget != nullptr) --*budget;
  }
}

absl::StatusOr<BatchResult> IngestProcessor::Process(const std::vector<InputRecord>& records) {
  if (absl::Status s = Resync(); !s.ok()) return s;
  const Timestamp started = clock_->Now();
  BatchResult result;
  std::unique_ptr<Chunk> chunk = NewChunk(started, &records);
  const auto committed = [this](std::int32_t p) { return CommittedPartition(p); };
  probe_->Consumed(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (chunk->dirty.size() >= options_.max_customers_per_commit) {
      if (absl::Status s = Flush(chunk, result); !s.ok()) return s;
    }
    const InputRecord& record = records[i];
    assigned_.insert(record.partition);
    auto p = PartitionOf(*chunk, record.partition, committed);
    if (!p.ok()) return p.status();
    const auto advance = [&](Chunk::Partition& part) {
      part.state.next_offset = std::max(part.state.next_offset.value_or(0), record.offset + 1);
      ++chunk->records;
    };

    if (const auto* rejection = std::get_if<Rejection>(&record.payload)) {
      probe_->Rejected(rejection->reason);
      chunk->rejected.push_back({i, *rejection});
      advance(**p);
      continue;
    }
    const auto& touchpoint = std::get<Touchpoint>(record.payload);
    if (auto rejection = ValidateTouchpoint(touchpoint, record.key, started, options_.validation)) {
      probe_->Rejected(rejection->reason);
      chunk->rejected.push_back({i, std::move(*rejection)});
      advance(**p);
      continue;
    }

    // Of a customer erased after it occurred, arriving late: dropped (not
    // applied, not sent to the dead-letter topic), its offset passed over.
    if (ErasedAfter((*p)->state, touchpoint)) {
      ++result.erased;
      probe_->ErasedSkipped();
      advance(**p);
      continue;
    }

    // The partition's event time moves on; on the event clock, the looks it
    // passed are taken before this record.
    std::optional<Timestamp>& watermark = (*p)->state.watermark;
    if (!watermark || touchpoint.occurred_at > *watermark) watermark = touchpoint.occurred_at;
    const Timestamp partition_time = *watermark;
    if (event_clock_looks()) {
      if (absl::Status s = TakeDueLooks(chunk, record.partition, partition_time, nullptr, result);
          !s.ok()) {
        return s;
      }
      p = PartitionOf(*chunk, record.partition, committed);  // the chunk may be a new one
      if (!p.ok()) return p.status();
    }
    Chunk::Partition& part = **p;
    auto customer =
        CustomerOf(*chunk, touchpoint.customer_id, record.partition, part, cache_, *store_);
    if (!customer.ok()) return customer.status();
    CustomerState& state = (*customer)->state;
    std::optional<Looks> looks;
    if (alerts_.scorers != nullptr) {
      looks.emplace(*chunk, *alerts_.policy);
      // A look due before this touchpoint is taken first.
      looks->TakeDue(touchpoint.customer_id, **customer, part, touchpoint.occurred_at);
    }
    const ApplyOutcome outcome = ApplyTouchpoint(touchpoint, options_.limits, state);
    if (outcome == ApplyOutcome::kDuplicate) {
      ++result.duplicates;
      probe_->DuplicateSkipped();
    } else if (outcome == ApplyOutcome::kTooLarge) {
      Rejection rejection(RejectReason::kStateTooLarge,
                          "the customer's state would exceed max_state_bytes (" +
                              std::to_string(options_.limits.max_state_bytes) + "; " +
                              std::to_string(StateBytes(state)) + " held)");
      probe_->Rejected(rejection.reason);
      chunk->rejected.push_back({i, std::move(rejection)});
      // A customer this touchpoint would have created: nothing to write.
      if (state.events_applied == 0) chunk->dirty.erase(touchpoint.customer_id);
    } else {
      state.partition = record.partition;
      ++result.applied;
      probe_->Applied(touchpoint.type);
      if (!chunk->latest_event || touchpoint.occurred_at > *chunk->latest_event) {
        chunk->latest_event = touchpoint.occurred_at;
      }
      if (looks) {
        // As of their latest event, or their latest look if later (a late
        // touchpoint): a customer's looks never go back in time.
        const Timestamp at =
            std::max(*state.last_seen, state.alert.evaluated_at.value_or(*state.last_seen));
        looks->Take(touchpoint.customer_id, **customer, part, at);
        // A late touchpoint may leave a look already passed by the partition.
        if (event_clock_looks()) {
          looks->TakeDue(touchpoint.customer_id, **customer, part, partition_time);
        }
      }
    }
    advance(part);
  }
  if (absl::Status s = Flush(chunk, result); !s.ok()) return s;
  probe_->BatchCommitted(records.size(), clock_->Now() - started);
  return result;
}

absl::StatusOr<bool> IngestProcessor::Erase(const CustomerId& id) {
  return Erase({.customer = id, .requested_at = clock_->Now()});
}

absl::StatusOr<bool> IngestProcessor::Erase(const ErasureRequest& request) {
  const CustomerId& id = request.customer;
  std::optional<CustomerState> known;
  if (const CustomerState* cached = cache_.Find(id)) {
    known = *cached;
  } else {
    auto stored = store_->Find(
        id, request.partition >= 0 ? std::optional<std::int32_t>(request.partition) : std::nullopt);
    if (!stored.ok()) return stored.status();
    known = std::move(*stored);
  }
  // Where the fence goes: the customer's partition, or the one the caller
  // routed by for a customer not known yet (their touchpoints may still be
  // on their way).
  const std::int32_t partition = known ? known->partition : request.partition;
  if (!known && partition < 0) return false;
  StateBatch batch;
  batch.sync = true;
  std::optional<PopulationEntry> entry;
  if (known) {
    if (partition >= 0) batch.erased.emplace_back(partition, &id);
    entry = PopulationEntryOf(*known);
    if (entry) population_.Replace(partition, entry, std::nullopt, &batch.population);
    const AlertState& alert = known->alert;
    if (alert.next_evaluation || alert.indexed_churn) {
      batch.index.push_back({.partition = partition,
                             .customer = &id,
                             .due_from = alert.next_evaluation,
                             .risk_from = alert.indexed_churn});
    }
  }
  if (partition >= 0) {
    auto committed = CommittedPartition(partition);
    if (!committed.ok()) return committed.status();
    PartitionState state = *committed;
    if (known && known->alert.open && state.open_alerts > 0) --state.open_alerts;
    AddErasureFence(state, EventIdHash(id.value()), request.requested_at);
    batch.partitions.emplace_back(partition, std::move(state));
  }
  std::vector<AlertEvent> withdrawn;
  auto pending = store_->PendingAlerts(std::numeric_limits<std::size_t>::max());
  if (!pending.ok()) return pending.status();
  for (const auto& [sequence, event] : *pending) {
    if (event.customer_id == id) {
      batch.outbox_removed.push_back(sequence);
      withdrawn.push_back(event);
      AlertDelivered(event);  // withdrawn: closed in the changelog like a delivered one
    }
  }
  if (absl::Status status = CommitDurably(batch); !status.ok()) {
    if (entry) population_.Replace(partition, std::nullopt, entry, nullptr);
    // Still in the outbox: not closed at the next commit either.
    std::lock_guard<std::mutex> lock(delivered_->mutex);
    std::erase_if(delivered_->alerts, [&](const AlertEvent& alert) {
      return std::any_of(withdrawn.begin(), withdrawn.end(), [&](const AlertEvent& w) {
        return w.outcome.alert_id == alert.outcome.alert_id;
      });
    });
    return status;
  }
  cache_.Erase(id);
  if (board_ != nullptr && entry) board_->Publish(population_.View());
  for (const auto& [p, committed] : batch.partitions) {
    partitions_[p] = committed;
    probe_->OpenAlerts(p, committed.open_alerts);
  }
  return known.has_value();
}

void IngestProcessor::AddErasureFence(PartitionState& state, std::uint64_t id_hash,
                                      Timestamp erased_at) const {
  const Timestamp now = clock_->Now();
  std::erase_if(state.erasure_fences,
                [&](const auto& fence) { return fence.second + options_.erasure_fence_ttl < now; });
  Timestamp& at = state.erasure_fences[id_hash];
  at = std::max(at, erased_at);
  while (state.erasure_fences.size() > kMaxErasureFences) {
    state.erasure_fences.erase(
        std::min_element(state.erasure_fences.begin(), state.erasure_fences.end(),
                         [](const auto& a, const auto& b) { return a.second < b.second; }));
  }
}

absl::Status IngestProcessor::CheckOwned(const ErasureRequest& request) {
  if (!assignment_known_) return absl::OkStatus();
  std::int32_t partition = request.partition;
  if (partition < 0) {
    auto stored = store_->Find(request.customer);
    if (!stored.ok()) return stored.status();
    if (!*stored) return absl::OkStatus();  // nothing of theirs here to write
    partition = (*stored)->partition;
  }
  if (partition < 0 || assigned_.contains(partition)) return absl::OkStatus();
  return absl::UnavailableError("partition " + std::to_string(partition) +
                                " is not this instance's now (a rebalance moved it); retry: the "
                                "erasure goes to its owner");
}

absl::Status IngestProcessor::TakeErasures(ErasureQueue& queue, AuditLog& audit) {
  for (ErasureQueue::Pending& pending : queue.TakeAll()) {
    if (absl::Status owned = CheckOwned(pending.request); !owned.ok()) {
      pending.done.set_value(absl::UnavailableError(owned.message()));
      continue;
    }
    if (absl::Status recorded = audit.Record(pending.request); !recorded.ok()) {
      pending.done.set_value(absl::UnavailableError("the audit log refused the erasure: " +
                                                    std::string(recorded.message())));
      continue;
    }
    absl::StatusOr<bool> erased = false;
    if (absl::Status resynced = Resync(); !resynced.ok()) {
      // The changelog cannot be read back yet (the brokers still away).
      erased = ChangelogUnacknowledged(resynced);
    } else {
      erased = Erase(pending.request);
    }
    if (erased.ok()) {
      // The erasure is durable: an outcome that cannot be recorded does not
      // undo it (its request is in the trail).
      (void)audit.RecordOutcome(
          pending.request, *erased ? ErasureOutcome::kErased : ErasureOutcome::kNothingToErase, "");
      pending.done.set_value(erased);
      continue;
    }
    const absl::Status failed = erased.status();
    (void)audit.RecordOutcome(pending.request, ErasureOutcome::kFailed,
                              std::string(failed.message().substr(0, 512)));
    if (IsChangelogUnacknowledged(failed) || IsStorageFull(failed)) {
      // Nothing erased here; the brokers or the disk will be back. What the
      // changelog may have kept of it is settled before the next commit.
      pending.done.set_value(absl::UnavailableError("the erasure could not be made durable (" +
                                                    std::string(failed.message()) +
                                                    "); nothing was erased: retry"));
      if (IsStorageFull(failed)) return failed;
      continue;
    }
    pending.done.set_value(failed);
    return failed;
  }
  return absl::OkStatus();
}

absl::Status IngestProcessor::Resync() {
  while (!unsure_.empty()) {
    const std::int32_t partition = *unsure_.begin();
    auto restored = RestorePartition(partition);
    if (!restored.ok()) return restored.status();
    unsure_.erase(partition);
  }
  return absl::OkStatus();
}

absl::StatusOr<BatchResult> IngestProcessor::RescoreDue(std::size_t limit) {
  if (absl::Status s = Resync(); !s.ok()) return s;
  BatchResult result;
  if (alerts_.scorers == nullptr || alerts_.clock == nullptr) return result;
  const Timestamp now = alerts_.clock->Now();
  std::unique_ptr<Chunk> chunk = NewChunk(clock_->Now(), nullptr);
  std::size_t budget = limit;
  for (std::int32_t partition : assigned_) {
    if (absl::Status s = TakeDueLooks(chunk, partition, now, &budget, result); !s.ok()) return s;
  }
  if (absl::Status s = Flush(chunk, result); !s.ok()) return s;
  return result;
}

void IngestProcessor::PlanLooks(Chunk& chunk) {
  std::vector<Chunk::Dirty*> unplanned;
  for (auto& [id, customer] : chunk.dirty) {
    if (customer.plan != nullptr) unplanned.push_back(&customer);
  }
  if (unplanned.empty()) return;
  const Scorer& scorer = *chunk.scorer;
  const double precision = alerts_.policy->risk_precision;
  planners_->Run(unplanned.size(),
                 [&](std::size_t i) { PlanNextLook(scorer, precision, *unplanned[i]); });
}

absl::Status IngestProcessor::Flush(std::unique_ptr<Chunk>& chunk, BatchResult& result) {
  Chunk& c = *chunk;
  if (c.dirty.empty() && c.records == 0 && c.stale_due.empty()) {
    MoveDueFloors(c);  // what its reads learnt
    chunk = NewChunk(c.started, c.input);
    return absl::OkStatus();
  }
  if (rejects_ != nullptr && !c.rejected.empty()) {
    for (const RejectedRecord& rejected : c.rejected) {
      const InputRecord& record = (*c.input)[rejected.index];
      absl::Status sent = rejects_->Send(record.partition, record.offset, record.key, record.value,
                                         rejected.rejection);
      if (!sent.ok()) return sent;
    }
    absl::StatusOr<std::uint64_t> passed_over = rejects_->Flush();
    if (!passed_over.ok()) return passed_over.status();
    if (*passed_over > 0) probe_->DeadLetterFailed(*passed_over);
  }

  PlanLooks(c);
  StateBatch batch;
  batch.customers.reserve(c.dirty.size());
  struct Moved {
    std::int32_t partition;
    std::optional<PopulationEntry> before, after;
  };
  std::vector<Moved> moved;
  for (const auto& [id, customer] : c.dirty) {
    batch.customers.emplace_back(&id, &customer.state);
    std::optional<PopulationEntry> after = PopulationEntryOf(customer.state);
    if (after != customer.population_before) {
      population_.Replace(customer.partition, customer.population_before, after, &batch.population);
      moved.push_back({customer.partition, customer.population_before, after});
    }
    const AlertState& alert = customer.state.alert;
    const std::optional<double> risk = alert.indexed_churn;
    if (alert.next_evaluation != customer.due_before || risk != customer.risk_before) {
      batch.index.push_back({.partition = customer.partition,
                             .customer = &id,
                             .due_from = customer.due_before,
                             .due_to = alert.next_evaluation,
                             .risk_from = customer.risk_before,
                             .risk_to = risk});
    }
  }
  for (const auto& [partition, entry] : c.stale_due) {
    batch.index.push_back(
        {.partition = partition, .customer = &entry.customer, .due_from = entry.at});
  }
  for (const auto& [partition, part] : c.partitions) {
    if (part.state != partitions_[partition]) batch.partitions.emplace_back(partition, part.state);
  }
  if (c.latest_event != latest_event_) batch.latest_event_time = c.latest_event;
  const std::uint64_t first_alert = next_alert_;
  for (const AlertEvent& alert : c.alerts) {
    if (alert.outcome.transition == AlertTransition::kRaised) {
      batch.outbox.emplace_back(next_alert_++, &alert);
    }
  }

  // On failure the cache forgets the states the chunk took from it (they are
  // read again from the store, as committed) and the population goes back to
  // the committed one.
  if (absl::Status status = CommitDurably(batch); !status.ok()) {
    for (const Moved& m : moved) population_.Replace(m.partition, m.after, m.before, nullptr);
    next_alert_ = first_alert;
    return status;
  }
  if (board_ != nullptr && !moved.empty()) board_->Publish(population_.View());
  latest_event_ = c.latest_event;
  if (event_clock_ != nullptr && latest_event_) event_clock_->Observe(*latest_event_);
  MoveDueFloors(c);
  for (const auto& [partition, state] : batch.partitions) {
    if (state.open_alerts != partitions_[partition].open_alerts) {
      probe_->OpenAlerts(partition, state.open_alerts);
    }
    partitions_[partition] = state;
  }
  for (auto& [id, customer] : c.dirty) cache_.Put(id, std::move(customer.state));
  c.committed = true;
  for (const AlertEvent& alert : c.alerts) {
    probe_->AlertChanged(alert.outcome.transition == AlertTransition::kRaised, alert.action,
                         alert.segment);
  }
  if (c.looks_due > 0) probe_->Rescored(c.looks_due);
  if (!c.look_churns.empty()) probe_->Looked(c.look_churns);
  result.rescored += c.looks_due;
  result.rejected.insert(result.rejected.end(), std::make_move_iterator(c.rejected.begin()),
                         std::make_move_iterator(c.rejected.end()));
  result.alerts.insert(result.alerts.end(), std::make_move_iterator(c.alerts.begin()),
                       std::make_move_iterator(c.alerts.end()));
  chunk = NewChunk(c.started, c.input);
  return absl::OkStatus();
}

absl::Status IngestProcessor::CommitDurably(StateBatch& batch) {
  if (changelog_.sink != nullptr) {
    if (absl::Status written = WriteChangelog(batch); !written.ok()) {
      // Part of the commit may be in the changelog, even its marker (an
      // acknowledgement lost): each partition it touched is read again from
      // the local checkpoint, and fenced, before its next commit (Resync).
      for (const auto& [partition, state] : batch.partitions) unsure_.insert(partition);
      for (const auto& [id, state] : batch.customers) unsure_.insert(state->partition);
      for (const auto& [partition, id] : batch.erased) unsure_.insert(partition);
      return ChangelogUnacknowledged(written);
    }
  }
  return store_->Commit(options_.topic, batch);
}

void IngestProcessor::AlertDelivered(const AlertEvent& alert) {
  std::lock_guard<std::mutex> lock(delivered_->mutex);
  delivered_->alerts.push_back(alert);
}

absl::Status IngestProcessor::WriteChangelog(StateBatch& batch) {
  std::map<std::int32_t, ChangelogWrite> writes;
  std::unordered_map<CustomerId, std::int32_t> partition_of;
  for (const auto& [id, state] : batch.customers) {
    writes[state->partition].customers.emplace_back(id, state);
    partition_of[*id] = state->partition;
  }
  for (const auto& [sequence, alert] : batch.outbox) {
    if (auto p = partition_of.find(alert->customer_id); p != partition_of.end()) {
      writes[p->second].alerts.emplace_back(alert->outcome.alert_id, alert);
    }
  }
  // Alerts delivered since: their records are closed, in their customer's
  // partition if this instance still owns it (else its new owner may deliver
  // one again; the publisher's read-back of the topic catches most).
  std::vector<AlertEvent> delivered;
  {
    std::lock_guard<std::mutex> lock(delivered_->mutex);
    delivered.swap(delivered_->alerts);
  }
  for (const AlertEvent& alert : delivered) {
    std::optional<std::int32_t> partition;
    if (const CustomerState* cached = cache_.Find(alert.customer_id)) {
      partition = cached->partition;
    } else if (auto it = partition_of.find(alert.customer_id); it != partition_of.end()) {
      partition = it->second;
    } else {
      auto stored = store_->Find(alert.customer_id);
      if (!stored.ok()) return stored.status();
      if (*stored) partition = (*stored)->partition;
    }
    if (partition && *partition >= 0 && assigned_.contains(*partition)) {
      writes[*partition].alerts.emplace_back(alert.outcome.alert_id, nullptr);
    }
  }
  for (const auto& [partition, id] : batch.erased) {
    writes[partition].customers.emplace_back(id, nullptr);
  }
  for (const auto& [partition, state] : batch.partitions) writes[partition];
  for (auto& [partition, write] : writes) {
    auto it = std::find_if(batch.partitions.begin(), batch.partitions.end(),
                           [p = partition](const auto& entry) { return entry.first == p; });
    if (it == batch.partitions.end()) {
      auto committed = CommittedPartition(partition);
      if (!committed.ok()) return committed.status();
      batch.partitions.emplace_back(partition, *committed);
      it = std::prev(batch.partitions.end());
    }
    if (it->second.epoch == 0) {
      // Not restored (a partition processed without an assignment): an
      // epoch of its own, continuing nothing.
      if (absl::Status started = StartEpoch(partition, std::nullopt); !started.ok()) {
        return started;
      }
      const PartitionState& begun = partitions_.at(partition);
      it->second.epoch = begun.epoch;
      it->second.seq = begun.seq;
      it->second.parent = begun.parent;
    }
    ++it->second.seq;
    write.partition = partition;
    write.marker = it->second;
    write.marker.changelog_offset.reset();
    write.marker.checkpoint_at.reset();
  }
  std::vector<ChangelogWrite> all;
  all.reserve(writes.size());
  for (auto& [partition, write] : writes) all.push_back(std::move(write));
  const Timestamp written_at = clock_->Now();
  auto offsets = changelog_.sink->Write(all);
  if (!offsets.ok()) {
    // Closed at the next commit instead.
    std::lock_guard<std::mutex> lock(delivered_->mutex);
    delivered_->alerts.insert(delivered_->alerts.end(), delivered.begin(), delivered.end());
    return offsets.status();
  }
  for (auto& [partition, state] : batch.partitions) {
    if (auto offset = offsets->find(partition); offset != offsets->end()) {
      state.changelog_offset = offset->second;
      state.checkpoint_at = written_at;
    }
  }
  return absl::OkStatus();
}

absl::Status IngestProcessor::StartEpoch(std::int32_t partition,
                                         std::optional<ChangelogStamp> parent) {
  auto committed = CommittedPartition(partition);
  if (!committed.ok()) return committed.status();
  PartitionState state = *committed;
  state.epoch = changelog_.new_epoch();
  state.seq = 0;
  state.parent = parent;
  ChangelogWrite fence{.partition = partition, .marker = state};
  fence.marker.changelog_offset.reset();
  fence.marker.checkpoint_at.reset();
  const Timestamp written_at = clock_->Now();
  auto offsets = changelog_.sink->Write({fence});
  if (!offsets.ok()) return offsets.status();
  state.changelog_offset = offsets->at(partition);
  state.checkpoint_at = written_at;
  StateBatch batch;
  batch.partitions.emplace_back(partition, state);
  if (absl::Status s = store_->Commit(options_.topic, batch); !s.ok()) return s;
  partitions_[partition] = state;
  return absl::OkStatus();
}

absl::Status IngestProcessor::CommitRestored(
    std::int32_t partition,
    const std::vector<std::pair<CustomerId, std::optional<CustomerState>>>& customers,
    const std::map<std::string, std::optional<AlertEvent>>& alerts,
    std::map<std::string, std::uint64_t>& outbox, const ChangelogMarker& through,
    std::int64_t offset, Timestamp read_from) {
  StateBatch batch;
  // Alerts raised and not delivered join the outbox (once), those delivered
  // since leave it.
  const std::uint64_t first_alert = next_alert_;
  std::map<std::string, std::uint64_t> added;
  for (const auto& [alert_id, alert] : alerts) {
    auto queued = outbox.find(alert_id);
    if (alert && queued == outbox.end()) {
      added[alert_id] = next_alert_;
      batch.outbox.emplace_back(next_alert_++, &*alert);
    } else if (!alert && queued != outbox.end()) {
      batch.outbox_removed.push_back(queued->second);
    }
  }
  std::vector<CustomerState> states;  // the restored ones, placed
  states.reserve(customers.size());
  struct Moved {
    std::optional<PopulationEntry> before, after;
  };
  std::vector<Moved> moved;
  for (const auto& [id, restored] : customers) {
    auto before = store_->Get(partition, id);
    if (!before.ok()) return before.status();
    const AlertState no_alert;
    const AlertState& was = *before ? (*before)->alert : no_alert;
    const AlertState& now = restored ? restored->alert : no_alert;
    if (was.next_evaluation != now.next_evaluation || was.indexed_churn != now.indexed_churn) {
      batch.index.push_back({.partition = partition,
                             .customer = &id,
                             .due_from = was.next_evaluation,
                             .due_to = now.next_evaluation,
                             .risk_from = was.indexed_churn,
                             .risk_to = now.indexed_churn});
    }
    std::optional<PopulationEntry> from =
        *before ? PopulationEntryOf(**before) : std::optional<PopulationEntry>();
    std::optional<PopulationEntry> to =
        restored ? PopulationEntryOf(*restored) : std::optional<PopulationEntry>();
    if (from != to) {
      population_.Replace(partition, from, to, &batch.population);
      moved.push_back({from, to});
    }
    if (restored) {
      states.push_back(*restored);
      states.back().partition = partition;
      batch.customers.emplace_back(&id, &states.back());
    } else if (*before) {
      batch.erased.emplace_back(partition, &id);
    }
  }
  PartitionState state = through.partition;
  state.epoch = through.at.epoch;
  state.seq = through.at.seq;
  state.parent = through.parent;
  state.changelog_offset = offset;
  // What follows the marker was read from `read_from` on: the complete
  // commits after it (none) and what is written later.
  state.checkpoint_at = read_from;
  batch.partitions.emplace_back(partition, state);
  if (state.watermark && (!latest_event_ || *state.watermark > *latest_event_)) {
    batch.latest_event_time = state.watermark;
  }
  if (!batch.outbox.empty() && changelog_.alerts_restored) changelog_.alerts_restored();
  if (absl::Status s = store_->Commit(options_.topic, batch); !s.ok()) {
    for (const Moved& m : moved) population_.Replace(partition, m.after, m.before, nullptr);
    next_alert_ = first_alert;
    return s;
  }
  for (const auto& [alert_id, alert] : alerts) {
    if (!alert) outbox.erase(alert_id);
  }
  outbox.merge(added);
  if (batch.latest_event_time) {
    latest_event_ = batch.latest_event_time;
    if (event_clock_ != nullptr) event_clock_->Observe(*latest_event_);
  }
  if (board_ != nullptr && !moved.empty()) board_->Publish(population_.View());
  partitions_[partition] = state;
  due_floor_.erase(partition);
  return absl::OkStatus();
}

absl::Status IngestProcessor::DropUntrustedCheckpoint(std::int32_t partition, bool* dropped) {
  *dropped = false;
  auto local = CommittedPartition(partition);
  if (!local.ok()) return local.status();
  if (!local->changelog_offset) return absl::OkStatus();  // nothing to trust: read from the start
  // A tombstone after the checkpoint is at least as recent as the
  // checkpoint, and compaction keeps it for the retention after reaching
  // it: while the checkpoint is younger than that (less a margin for the
  // brokers' clocks), every erasure after it is still in the changelog.
  const Micros trusted_for = changelog_.tombstone_retention * 9 / 10;
  if (local->checkpoint_at && clock_->Now() < *local->checkpoint_at + trusted_for) {
    return absl::OkStatus();
  }
  // The partition's customers' undelivered alerts go too: the changelog
  // says again which are still to deliver (an erased customer's are not).
  auto pending = store_->PendingAlerts(std::numeric_limits<std::size_t>::max());
  if (!pending.ok()) return pending.status();
  StateBatch batch;
  for (const auto& [sequence, alert] : *pending) {
    auto state = store_->Get(partition, alert.customer_id);
    if (!state.ok()) return state.status();
    if (*state) batch.outbox_removed.push_back(sequence);
  }
  if (!batch.outbox_removed.empty()) {
    if (absl::Status s = store_->Commit(options_.topic, batch); !s.ok()) return s;
  }
  if (absl::Status s = store_->DropPartition(options_.topic, partition); !s.ok()) return s;
  population_.DropPartition(partition);
  if (board_ != nullptr) board_->Publish(population_.View());
  partitions_.erase(partition);
  *dropped = true;
  return absl::OkStatus();
}

absl::StatusOr<RestoreResult> IngestProcessor::RestorePartition(
    std::int32_t partition, const std::function<void(std::uint64_t)>& progress) {
  if (changelog_.source == nullptr || changelog_.sink == nullptr) {
    return absl::FailedPreconditionError("RestorePartition without a changelog");
  }
  // What this process cached of the partition may be stale now.
  cache_.Clear();
  partitions_.erase(partition);
  due_floor_.erase(partition);
  RestoreResult result;
  const Timestamp read_from = clock_->Now();
  if (absl::Status s = DropUntrustedCheckpoint(partition, &result.from_start); !s.ok()) return s;
  auto local = CommittedPartition(partition);
  if (!local.ok()) return local.status();
  const std::optional<ChangelogStamp> at =
      local->epoch != 0 ? std::optional<ChangelogStamp>(ChangelogStamp{local->epoch, local->seq})
                        : std::nullopt;
  ChangelogReplay replay(at);
  // Complete commits, applied a batch at a time: each batch ends at a marker.
  constexpr std::size_t kCustomersPerCommit = 5000;
  std::vector<std::pair<CustomerId, std::optional<CustomerState>>> applied;
  std::map<std::string, std::optional<AlertEvent>> alerts;  // the latest of each
  std::optional<ChangelogStep> last;
  std::map<std::string, std::uint64_t> outbox;
  {
    auto pending = store_->PendingAlerts(std::numeric_limits<std::size_t>::max());
    if (!pending.ok()) return pending.status();
    for (const auto& [sequence, alert] : *pending) outbox[alert.outcome.alert_id] = sequence;
  }
  const auto commit = [&]() -> absl::Status {
    if (!last) return absl::OkStatus();
    // A customer written twice: the later state stands.
    std::unordered_map<CustomerId, std::size_t> latest;
    for (std::size_t i = 0; i < applied.size(); ++i) latest[applied[i].first] = i;
    std::vector<std::pair<CustomerId, std::optional<CustomerState>>> unique;
    unique.reserve(latest.size());
    for (std::size_t i = 0; i < applied.size(); ++i) {
      if (latest[applied[i].first] == i) unique.push_back(std::move(applied[i]));
    }
    applied.clear();
    result.customers += unique.size();
    absl::Status s =
        CommitRestored(partition, unique, alerts, outbox, last->through, last->offset, read_from);
    alerts.clear();
    last.reset();
    return s;
  };
  const std::optional<std::int64_t> from =
      local->changelog_offset ? std::optional<std::int64_t>(*local->changelog_offset + 1)
                              : std::nullopt;
  // Customers whose latest record cannot be restored: unreadable, or of
  // another partition (its offset, and why).
  std::map<CustomerId, std::pair<std::int64_t, std::string>> poisoned;
  // A partition that cannot be restored keeps nothing of this restore: its
  // next one reads the changelog from the start.
  const auto give_up = [&](absl::Status status) -> absl::Status {
    if (!absl::IsDataLoss(status)) return status;
    if (absl::Status dropped = store_->DropPartition(options_.topic, partition); !dropped.ok()) {
      return dropped;
    }
    population_.DropPartition(partition);
    if (board_ != nullptr) board_->Publish(population_.View());
    cache_.Clear();
    partitions_.erase(partition);
    due_floor_.erase(partition);
    return status;
  };
  absl::Status read =
      changelog_.source->Read(partition, from, [&](ChangelogRecord record) -> absl::Status {
        ++result.records;
        if (progress && result.records % 10'000 == 0) progress(result.records);
        if (record.kind == ChangelogRecord::Kind::kUnreadable) {
          poisoned[record.customer] = {record.offset, "unreadable"};
          return absl::OkStatus();
        }
        if (record.kind == ChangelogRecord::Kind::kCustomer) {
          if (record.state && record.state->partition >= 0 &&
              record.state->partition != partition) {
            poisoned[record.customer] = {
                record.offset, "a state of partition " + std::to_string(record.state->partition)};
            return absl::OkStatus();
          }
          poisoned.erase(record.customer);  // a later record of theirs supersedes a bad one
        }
        for (ChangelogStep& step : replay.Add(std::move(record))) {
          ++result.commits;
          for (auto& customer : step.customers) applied.push_back(std::move(customer));
          for (auto& [alert_id, alert] : step.alerts) alerts[alert_id] = std::move(alert);
          step.customers.clear();
          step.alerts.clear();
          last = std::move(step);
          if (applied.size() >= kCustomersPerCommit) {
            if (absl::Status s = commit(); !s.ok()) return s;
          }
        }
        return absl::OkStatus();
      });
  if (!read.ok()) return give_up(read);
  replay.Finish();
  if (absl::Status s = commit(); !s.ok()) return s;
  if (!poisoned.empty()) {
    const auto& [id, bad] = *poisoned.begin();
    return give_up(absl::DataLossError(
        std::to_string(poisoned.size()) + " customer record(s) of the changelog cannot be " +
        "restored, the first at offset " + std::to_string(bad.first) + " (key " +
        BoundedText(id.value(), 96) + ": " + bad.second + ")"));
  }
  if (progress) progress(result.records);
  result.dropped = replay.dropped();

  // This owner's epoch, unless it wrote the latest commit itself and nothing
  // needs writing again.
  if (local->epoch != 0 && replay.at() == at && replay.orphaned().empty()) return result;
  if (absl::Status s = StartEpoch(partition, replay.at()); !s.ok()) return s;
  result.new_epoch = true;
  if (!replay.orphaned().empty()) {
    StateBatch batch;
    std::vector<CustomerState> states;
    states.reserve(replay.orphaned().size());
    for (const CustomerId& id : replay.orphaned()) {
      auto state = store_->Get(partition, id);
      if (!state.ok()) return state.status();
      if (*state) {
        states.push_back(std::move(**state));
        batch.customers.emplace_back(&id, &states.back());
      } else {
        batch.erased.emplace_back(partition, &id);
      }
    }
    // The states are as committed: only the changelog and the marker move.
    batch.partitions.emplace_back(partition, partitions_.at(partition));
    if (absl::Status s = CommitDurably(batch); !s.ok()) return s;
    partitions_[partition] = batch.partitions.front().second;
    result.rewritten = replay.orphaned().size();
  }
  return result;
}

}  // namespace crm
