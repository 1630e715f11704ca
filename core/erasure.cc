#include "core/erasure.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/ingest_state.h"
#include "core/partition_handover.h"
#include "core/state_store.h"
#include "core/touchpoint.h"

namespace crm {

std::string_view ErasureOutcomeName(ErasureOutcome outcome) {
  switch (outcome) {
    case ErasureOutcome::kErased:
      return "erased";
    case ErasureOutcome::kNothingToErase:
      return "nothing-to-erase";
    case ErasureOutcome::kRefused:
      return "refused";
    case ErasureOutcome::kFailed:
      return "failed";
  }
  std::abort();  // not an ErasureOutcome: memory is corrupt
}

std::future<absl::StatusOr<bool>> ErasureQueue::Submit(ErasureRequest request) {
  Pending pending{std::move(request), {}};
  std::future<absl::StatusOr<bool>> done = pending.done.get_future();
  absl::MutexLock lock(&mutex_);
  pending_.push_back(std::move(pending));
  return done;
}

void ErasureQueue::Add(Pending pending) {
  absl::MutexLock lock(&mutex_);
  pending_.push_back(std::move(pending));
}

std::vector<ErasureQueue::Pending> ErasureQueue::TakeAll() {
  absl::MutexLock lock(&mutex_);
  return std::exchange(pending_, {});
}

bool ErasedAfter(const PartitionState& partition, const Touchpoint& touchpoint) {
  if (partition.erasure_fences.empty()) return false;
  const auto fence = partition.erasure_fences.find(EventIdHash(touchpoint.customer_id.value()));
  return fence != partition.erasure_fences.end() && touchpoint.occurred_at <= fence->second;
}

Eraser::Eraser(IngestState* state, PartitionHandOver* handover, const Clock* clock,
               Micros fence_ttl)
    : state_(state), handover_(handover), clock_(clock), fence_ttl_(fence_ttl) {}

absl::StatusOr<bool> Eraser::Erase(const ErasureRequest& request) {
  const CustomerId& id = request.customer;
  std::optional<CustomerState> known;
  if (const CustomerState* cached = state_->cache.Find(id)) {
    known = *cached;
  } else {
    auto stored = state_->store->Find(
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
    if (entry) state_->population.Replace(partition, entry, std::nullopt, &batch.population);
    const AlertState& alert = known->alert;
    if (alert.indexed_churn || !alert.indexed_appetence.empty() || !alert.follow_ups.empty()) {
      batch.index.push_back({.partition = partition,
                             .customer = &id,
                             .risk_from = alert.indexed_churn,
                             .appetence_from = alert.indexed_appetence,
                             .follow_ups_from = &alert.follow_ups});
    }
  }
  if (partition >= 0) {
    auto committed = state_->Partition(partition);
    if (!committed.ok()) return committed.status();
    PartitionState state = *committed;
    if (known && known->alert.open) {
      CRM_DCHECK(state.open_alerts > 0);  // their open alert is counted
      if (state.open_alerts > 0) --state.open_alerts;
    }
    AddFence(state, EventIdHash(id.value()), request.requested_at);
    batch.partitions.emplace_back(partition, std::move(state));
  }
  std::vector<AlertEvent> withdrawn;
  auto pending = state_->store->PendingAlerts(std::numeric_limits<std::size_t>::max());
  if (!pending.ok()) return pending.status();
  for (const auto& [sequence, event] : *pending) {
    if (event.customer_id == id) {
      batch.outbox_removed.push_back(sequence);
      withdrawn.push_back(event);
      handover_->AlertDelivered(event);  // withdrawn: closed in the changelog like a delivered one
    }
  }
  if (absl::Status status = handover_->Commit(batch); !status.ok()) {
    if (entry) state_->population.Replace(partition, std::nullopt, entry, nullptr);
    handover_->KeepOpen(withdrawn);  // still in the outbox: not closed at the next commit either
    return status;
  }
  state_->cache.Erase(id);
  if (entry) state_->PublishPopulation();
  for (const auto& [p, committed] : batch.partitions) {
    state_->partitions[p] = committed;
    state_->probe->OpenAlerts(p, committed.open_alerts);
  }
  return known.has_value();
}

void Eraser::AddFence(PartitionState& state, std::uint64_t id_hash, Timestamp erased_at) const {
  const Timestamp now = clock_->Now();
  std::erase_if(state.erasure_fences,
                [&](const auto& fence) { return fence.second + fence_ttl_ < now; });
  Timestamp& at = state.erasure_fences[id_hash];
  at = std::max(at, erased_at);
  while (state.erasure_fences.size() > kMaxErasureFences) {
    state.erasure_fences.erase(
        std::min_element(state.erasure_fences.begin(), state.erasure_fences.end(),
                         [](const auto& a, const auto& b) { return a.second < b.second; }));
  }
}

absl::Status Eraser::CheckOwned(const ErasureRequest& request) {
  if (!state_->assignment_known) return absl::OkStatus();
  std::int32_t partition = request.partition;
  if (partition < 0) {
    auto stored = state_->store->Find(request.customer);
    if (!stored.ok()) return stored.status();
    if (!*stored) return absl::OkStatus();  // nothing of theirs here to write
    partition = (*stored)->partition;
  }
  if (partition < 0 || state_->assigned.contains(partition)) return absl::OkStatus();
  return absl::UnavailableError("partition " + std::to_string(partition) +
                                " is not this instance's now (a rebalance moved it); retry: the "
                                "erasure goes to its owner");
}

absl::Status Eraser::TakeErasures(ErasureQueue& queue, AuditLog& audit) {
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
    if (absl::Status resynced = handover_->Resync(); !resynced.ok()) {
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
    absl::Status failed = erased.status();
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

}  // namespace crm
