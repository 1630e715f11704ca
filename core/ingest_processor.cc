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

  // On failure the cache still holds the committed states (the batch worked
  // on copies) and the population goes back to the committed one.
  if (absl::Status status = store_->Commit(options_.topic, batch); !status.ok()) {
    for (const auto& [customer, after] : moved) {
      population_.Replace(customer->partition, after, customer->before, nullptr);
    }
    return status;
  }
  if (board_ != nullptr && !moved.empty()) board_->Publish(population_.View());
  latest_event_ = latest_event;
  if (event_clock_ != nullptr && latest_event_) event_clock_->Observe(*latest_event_);
  for (auto& [id, customer] : dirty) cache_.Put(id, std::move(customer.state));
  probe_->BatchCommitted(records.size(), clock_->Now() - started);
  return result;
}

}  // namespace crm
