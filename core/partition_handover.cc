#include "core/partition_handover.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <string>

#include "core/bounded_text.h"
#include "core/check.h"

namespace crm {

// What a restore gathered since its last commit.
struct PartitionHandOver::Restoring {
  Restoring(std::optional<ChangelogStamp> at, Timestamp read_from)
      : replay(at), read_from(read_from) {}

  ChangelogReplay replay;
  // The wall clock before the changelog was read: what follows the marker
  // restored to is at least this recent.
  const Timestamp read_from;
  std::vector<std::pair<CustomerId, std::optional<CustomerState>>> applied;
  std::map<std::string, std::optional<AlertEvent>> alerts;  // the latest of each
  std::optional<ChangelogStep> last;                        // the latest complete commit
  std::map<std::string, std::uint64_t> outbox;              // alert id → sequence number
  // Customers whose latest record cannot be restored: unreadable, or of
  // another partition (its offset, and why).
  std::map<CustomerId, std::pair<std::int64_t, std::string>> poisoned;
};

PartitionHandOver::PartitionHandOver(IngestState* state, LookScheduler* looks, const Clock* clock)
    : state_(state), looks_(looks), clock_(clock) {}

void PartitionHandOver::Enable(ChangelogContext context) {
  CRM_CHECK(context.sink == nullptr || (context.source != nullptr && context.new_epoch));
  changelog_ = std::move(context);
}

absl::Status PartitionHandOver::Commit(StateBatch& batch) {
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
  return state_->store->Commit(state_->topic, batch);
}

absl::Status PartitionHandOver::Resync() {
  while (!unsure_.empty()) {
    const std::int32_t partition = *unsure_.begin();
    auto restored = RestorePartition(partition, nullptr);
    if (!restored.ok()) return restored.status();
    unsure_.erase(partition);
  }
  return absl::OkStatus();
}

void PartitionHandOver::AlertDelivered(const AlertEvent& alert) {
  absl::MutexLock lock(&delivered_mutex_);
  delivered_.push_back(alert);
}

void PartitionHandOver::KeepOpen(const std::vector<AlertEvent>& alerts) {
  absl::MutexLock lock(&delivered_mutex_);
  std::erase_if(delivered_, [&](const AlertEvent& alert) {
    return std::any_of(alerts.begin(), alerts.end(), [&](const AlertEvent& kept) {
      return AlertDeliveryId(kept.outcome) == AlertDeliveryId(alert.outcome);
    });
  });
}

absl::StatusOr<std::optional<std::int32_t>> PartitionHandOver::PartitionOfCustomer(
    const CustomerId& id, const std::unordered_map<CustomerId, std::int32_t>& in_batch) {
  if (const CustomerState* cached = state_->cache.Find(id)) return cached->partition;
  if (auto it = in_batch.find(id); it != in_batch.end()) return it->second;
  auto stored = state_->store->Find(id);
  if (!stored.ok()) return stored.status();
  if (*stored) return (*stored)->partition;
  return std::nullopt;
}

absl::StatusOr<std::map<std::int32_t, ChangelogWrite>> PartitionHandOver::WritesOf(
    const StateBatch& batch, std::vector<AlertEvent>& delivered) {
  std::map<std::int32_t, ChangelogWrite> writes;
  std::unordered_map<CustomerId, std::int32_t> partition_of;
  const bool encoded = !batch.encoded.empty();
  for (std::size_t i = 0; i < batch.customers.size(); ++i) {
    const auto& [id, state] = batch.customers[i];
    ChangelogWrite& write = writes[state->partition];
    write.customers.emplace_back(id, state);
    if (encoded) write.encoded.push_back(&batch.encoded[i]);
    partition_of[*id] = state->partition;
  }
  for (const auto& [sequence, alert] : batch.outbox) {
    if (auto p = partition_of.find(alert->customer_id); p != partition_of.end()) {
      writes[p->second].alerts.emplace_back(AlertDeliveryId(alert->outcome), alert);
    }
  }
  // Alerts delivered since: their records are closed, in their customer's
  // partition if this instance still owns it (else its new owner may deliver
  // one again; the publisher's read-back of the topic catches most).
  {
    absl::MutexLock lock(&delivered_mutex_);
    delivered.swap(delivered_);
  }
  for (const AlertEvent& alert : delivered) {
    auto partition = PartitionOfCustomer(alert.customer_id, partition_of);
    if (!partition.ok()) return partition.status();
    if (*partition && **partition >= 0 && state_->assigned.contains(**partition)) {
      writes[**partition].alerts.emplace_back(AlertDeliveryId(alert.outcome), nullptr);
    }
  }
  for (const auto& [partition, id] : batch.erased) {
    ChangelogWrite& write = writes[partition];
    write.customers.emplace_back(id, nullptr);
    if (encoded) write.encoded.push_back(nullptr);
  }
  for (const auto& [partition, state] : batch.partitions) writes[partition];
  return writes;
}

absl::Status PartitionHandOver::WriteChangelog(StateBatch& batch) {
  std::vector<AlertEvent> delivered;
  auto writes = WritesOf(batch, delivered);
  if (!writes.ok()) return writes.status();
  for (auto& [partition, write] : *writes) {
    auto it = std::find_if(batch.partitions.begin(), batch.partitions.end(),
                           [p = partition](const auto& entry) { return entry.first == p; });
    if (it == batch.partitions.end()) {
      auto committed = state_->Partition(partition);
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
      const auto begun_at = state_->partitions.find(partition);
      CRM_CHECK(begun_at != state_->partitions.end());  // StartEpoch committed it
      const PartitionState& begun = begun_at->second;
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
  all.reserve(writes->size());
  for (auto& [partition, write] : *writes) all.push_back(std::move(write));
  const Timestamp written_at = clock_->Now();
  auto offsets = changelog_.sink->Write(all);
  if (!offsets.ok()) {
    // Closed at the next commit instead.
    absl::MutexLock lock(&delivered_mutex_);
    delivered_.insert(delivered_.end(), delivered.begin(), delivered.end());
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

absl::Status PartitionHandOver::StartEpoch(std::int32_t partition,
                                           std::optional<ChangelogStamp> parent) {
  auto committed = state_->Partition(partition);
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
  const auto offset = offsets->find(partition);
  CRM_CHECK(offset != offsets->end());  // the sink acknowledged every write
  state.changelog_offset = offset->second;
  state.checkpoint_at = written_at;
  StateBatch batch;
  batch.partitions.emplace_back(partition, state);
  if (absl::Status s = state_->store->Commit(state_->topic, batch); !s.ok()) return s;
  state_->partitions[partition] = state;
  return absl::OkStatus();
}

absl::Status PartitionHandOver::FlushRestored(std::int32_t partition, Restoring& restoring,
                                              RestoreResult& result) {
  if (!restoring.last) return absl::OkStatus();
  // A customer written twice: the later state stands.
  std::vector<std::pair<CustomerId, std::optional<CustomerState>>>& applied = restoring.applied;
  std::unordered_map<CustomerId, std::size_t> latest;
  for (std::size_t i = 0; i < applied.size(); ++i) latest[applied[i].first] = i;
  std::vector<std::pair<CustomerId, std::optional<CustomerState>>> unique;
  unique.reserve(latest.size());
  for (std::size_t i = 0; i < applied.size(); ++i) {
    if (latest[applied[i].first] == i) unique.push_back(std::move(applied[i]));
  }
  applied.clear();
  result.customers += unique.size();
  absl::Status s = CommitRestored(partition, unique, restoring);
  restoring.alerts.clear();
  restoring.last.reset();
  return s;
}

absl::Status PartitionHandOver::CommitRestored(
    std::int32_t partition,
    const std::vector<std::pair<CustomerId, std::optional<CustomerState>>>& customers,
    Restoring& restoring) {
  StateBatch batch;
  // Alerts raised and not delivered join the outbox (once), those delivered
  // since leave it.
  std::map<std::string, std::uint64_t> added;
  for (const auto& [alert_id, alert] : restoring.alerts) {
    auto queued = restoring.outbox.find(alert_id);
    if (alert && queued == restoring.outbox.end()) {
      const std::uint64_t sequence = state_->alert_sequence->Take();
      added[alert_id] = sequence;
      batch.outbox.emplace_back(sequence, &*alert);
    } else if (!alert && queued != restoring.outbox.end()) {
      batch.outbox_removed.push_back(queued->second);
    }
  }
  std::vector<CustomerState> states;  // the restored ones, placed
  states.reserve(customers.size());
  struct Moved {
    std::optional<PopulationEntry> before, after;
  };
  std::vector<Moved> moved;
  // The follow-ups replaced, kept for the batch's index changes.
  std::vector<std::vector<AlertFollowUp>> replaced;
  replaced.reserve(customers.size());
  for (const auto& [id, restored] : customers) {
    auto before = state_->store->Get(partition, id);
    if (!before.ok()) return before.status();
    const AlertState no_alert;
    const AlertState& was = *before ? (*before)->alert : no_alert;
    const AlertState& now = restored ? restored->alert : no_alert;
    if (was.indexed_churn != now.indexed_churn || was.indexed_appetence != now.indexed_appetence ||
        was.follow_ups != now.follow_ups) {
      batch.index.push_back({.partition = partition,
                             .customer = &id,
                             .risk_from = was.indexed_churn,
                             .risk_to = now.indexed_churn,
                             .appetence_from = was.indexed_appetence,
                             .appetence_to = now.indexed_appetence,
                             .follow_ups_from = &replaced.emplace_back(was.follow_ups),
                             .follow_ups_to = restored ? &restored->alert.follow_ups : nullptr});
    }
    std::optional<PopulationEntry> from =
        *before ? PopulationEntryOf(**before) : std::optional<PopulationEntry>();
    std::optional<PopulationEntry> to =
        restored ? PopulationEntryOf(*restored) : std::optional<PopulationEntry>();
    if (from != to) {
      state_->population.Replace(partition, from, to, &batch.population);
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
  const ChangelogMarker& through = restoring.last->through;
  PartitionState state = through.partition;
  state.epoch = through.at.epoch;
  state.seq = through.at.seq;
  state.parent = through.parent;
  state.changelog_offset = restoring.last->offset;
  // What follows the marker was read from `read_from` on: the complete
  // commits after it (none) and what is written later.
  state.checkpoint_at = restoring.read_from;
  batch.partitions.emplace_back(partition, state);
  if (state.watermark && (!state_->latest_event || *state.watermark > *state_->latest_event)) {
    batch.latest_event_time = state.watermark;
  }
  if (!batch.outbox.empty() && changelog_.alerts_restored) changelog_.alerts_restored();
  if (absl::Status s = state_->store->Commit(state_->topic, batch); !s.ok()) {
    for (const Moved& m : moved) state_->population.Replace(partition, m.after, m.before, nullptr);
    return s;
  }
  for (const auto& [alert_id, alert] : restoring.alerts) {
    if (!alert) restoring.outbox.erase(alert_id);
  }
  restoring.outbox.merge(added);
  if (batch.latest_event_time) state_->SetLatestEvent(batch.latest_event_time);
  if (!moved.empty()) state_->PublishPopulation();
  state_->partitions[partition] = state;
  looks_->Forget(partition);
  return absl::OkStatus();
}

absl::Status PartitionHandOver::DropUntrustedCheckpoint(std::int32_t partition, bool* dropped) {
  *dropped = false;
  auto local = state_->Partition(partition);
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
  auto pending = state_->store->PendingAlerts(std::numeric_limits<std::size_t>::max());
  if (!pending.ok()) return pending.status();
  StateBatch batch;
  for (const auto& [sequence, alert] : *pending) {
    auto state = state_->store->Get(partition, alert.customer_id);
    if (!state.ok()) return state.status();
    if (*state) batch.outbox_removed.push_back(sequence);
  }
  if (!batch.outbox_removed.empty()) {
    if (absl::Status s = state_->store->Commit(state_->topic, batch); !s.ok()) return s;
  }
  if (absl::Status s = state_->store->DropPartition(state_->topic, partition); !s.ok()) return s;
  state_->population.DropPartition(partition);
  state_->PublishPopulation();
  state_->partitions.erase(partition);
  *dropped = true;
  return absl::OkStatus();
}

absl::Status PartitionHandOver::GiveUp(std::int32_t partition, absl::Status status) {
  if (!absl::IsDataLoss(status)) return status;
  if (absl::Status dropped = state_->store->DropPartition(state_->topic, partition);
      !dropped.ok()) {
    return dropped;
  }
  state_->population.DropPartition(partition);
  state_->PublishPopulation();
  state_->cache.Clear();
  state_->partitions.erase(partition);
  looks_->Forget(partition);
  return status;
}

absl::Status PartitionHandOver::ReadChangelog(std::int32_t partition,
                                              std::optional<std::int64_t> from,
                                              Restoring& restoring, RestoreResult& result,
                                              const std::function<void(std::uint64_t)>& progress) {
  // Complete commits, applied a batch at a time: each batch ends at a marker.
  constexpr std::size_t kCustomersPerCommit = 5000;
  auto& poisoned = restoring.poisoned;
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
        for (ChangelogStep& step : restoring.replay.Add(std::move(record))) {
          ++result.commits;
          for (auto& customer : step.customers) restoring.applied.push_back(std::move(customer));
          for (auto& [alert_id, alert] : step.alerts) {
            restoring.alerts[alert_id] = std::move(alert);
          }
          step.customers.clear();
          step.alerts.clear();
          restoring.last = std::move(step);
          if (restoring.applied.size() >= kCustomersPerCommit) {
            if (absl::Status s = FlushRestored(partition, restoring, result); !s.ok()) return s;
          }
        }
        return absl::OkStatus();
      });
  if (!read.ok()) return GiveUp(partition, read);
  restoring.replay.Finish();
  if (absl::Status s = FlushRestored(partition, restoring, result); !s.ok()) return s;
  if (!poisoned.empty()) {
    const auto& [id, bad] = *poisoned.begin();
    return GiveUp(partition, absl::DataLossError(
                                 std::to_string(poisoned.size()) +
                                 " customer record(s) of the changelog cannot be restored, the "
                                 "first at offset " +
                                 std::to_string(bad.first) + " (key " +
                                 BoundedText(id.value(), 96) + ": " + bad.second + ")"));
  }
  return absl::OkStatus();
}

absl::Status PartitionHandOver::RewriteOrphaned(std::int32_t partition,
                                                const std::set<CustomerId>& orphaned) {
  StateBatch batch;
  std::vector<CustomerState> states;
  states.reserve(orphaned.size());
  for (const CustomerId& id : orphaned) {
    auto state = state_->store->Get(partition, id);
    if (!state.ok()) return state.status();
    if (*state) {
      states.push_back(std::move(**state));
      batch.customers.emplace_back(&id, &states.back());
    } else {
      batch.erased.emplace_back(partition, &id);
    }
  }
  // The states are as committed: only the changelog and the marker move.
  const auto committed = state_->partitions.find(partition);
  CRM_CHECK(committed != state_->partitions.end());  // StartEpoch committed it
  batch.partitions.emplace_back(partition, committed->second);
  if (absl::Status s = Commit(batch); !s.ok()) return s;
  state_->partitions[partition] = batch.partitions.front().second;
  return absl::OkStatus();
}

absl::StatusOr<RestoreResult> PartitionHandOver::RestorePartition(
    std::int32_t partition, const std::function<void(std::uint64_t)>& progress) {
  if (changelog_.source == nullptr || changelog_.sink == nullptr) {
    return absl::FailedPreconditionError("RestorePartition without a changelog");
  }
  // What this process cached of the partition may be stale now.
  state_->cache.Clear();
  state_->partitions.erase(partition);
  looks_->Forget(partition);
  RestoreResult result;
  const Timestamp read_from = clock_->Now();
  if (absl::Status s = DropUntrustedCheckpoint(partition, &result.from_start); !s.ok()) return s;
  auto local = state_->Partition(partition);
  if (!local.ok()) return local.status();
  const std::optional<ChangelogStamp> at =
      local->epoch != 0 ? std::optional<ChangelogStamp>(ChangelogStamp{local->epoch, local->seq})
                        : std::nullopt;
  Restoring restoring(at, read_from);
  {
    auto pending = state_->store->PendingAlerts(std::numeric_limits<std::size_t>::max());
    if (!pending.ok()) return pending.status();
    for (const auto& [sequence, alert] : *pending) {
      restoring.outbox[AlertDeliveryId(alert.outcome)] = sequence;
    }
  }
  const std::optional<std::int64_t> from =
      local->changelog_offset ? std::optional<std::int64_t>(*local->changelog_offset + 1)
                              : std::nullopt;
  if (absl::Status s = ReadChangelog(partition, from, restoring, result, progress); !s.ok()) {
    return s;
  }
  if (progress) progress(result.records);
  const ChangelogReplay& replay = restoring.replay;
  result.dropped = replay.dropped();

  // This owner's epoch, unless it wrote the latest commit itself and nothing
  // needs writing again.
  if (local->epoch != 0 && replay.at() == at && replay.orphaned().empty()) return result;
  if (absl::Status s = StartEpoch(partition, replay.at()); !s.ok()) return s;
  result.new_epoch = true;
  if (!replay.orphaned().empty()) {
    if (absl::Status s = RewriteOrphaned(partition, replay.orphaned()); !s.ok()) return s;
    result.rewritten = replay.orphaned().size();
  }
  return result;
}

}  // namespace crm
