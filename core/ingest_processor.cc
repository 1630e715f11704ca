#include "core/ingest_processor.h"

#include <map>
#include <unordered_map>

namespace crm {

IngestProcessor::IngestProcessor(IngestOptions options, StateStore* store, const Clock* clock,
                                 IngestProbe* probe, RejectSink* rejects)
    : options_(std::move(options)),
      store_(store),
      clock_(clock),
      probe_(probe),
      rejects_(rejects),
      cache_(options_.cache_entries) {}

absl::StatusOr<BatchResult> IngestProcessor::Process(const std::vector<InputRecord>& records) {
  const Timestamp started = clock_->Now();
  BatchResult result;
  std::unordered_map<CustomerId, CustomerState> dirty;
  std::map<std::int32_t, std::int64_t> next_offsets;

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
      it = dirty.emplace(touchpoint.customer_id, std::move(state)).first;
    }
    if (ApplyTouchpoint(touchpoint, options_.limits, it->second) == ApplyOutcome::kDuplicate) {
      ++result.duplicates;
      probe_->DuplicateSkipped();
    } else {
      ++result.applied;
      probe_->Applied(touchpoint.type);
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
  for (const auto& [id, state] : dirty) batch.customers.emplace_back(&id, &state);
  for (const auto& [partition, next] : next_offsets) batch.offsets.push_back({partition, next});

  // On failure the cache still holds the committed states: the batch worked on copies.
  if (absl::Status status = store_->Commit(options_.topic, batch); !status.ok()) return status;
  for (auto& [id, state] : dirty) cache_.Put(id, std::move(state));
  probe_->BatchCommitted(records.size(), clock_->Now() - started);
  return result;
}

}  // namespace crm
