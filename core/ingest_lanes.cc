#include "core/ingest_lanes.h"

#include <algorithm>
#include <utility>

#include "core/check.h"

namespace crm {
namespace {

// Each lane's share of a bound (at least one).
std::size_t ShareOf(std::size_t total, std::size_t lanes) {
  return std::max<std::size_t>(1, total / lanes);
}

// `part`, a lane's result, joins `all`.
void Merge(BatchResult& all, BatchResult part) {
  all.applied += part.applied;
  all.duplicates += part.duplicates;
  all.looks_taken += part.looks_taken;
  all.erased += part.erased;
  all.rejected.insert(all.rejected.end(), std::make_move_iterator(part.rejected.begin()),
                      std::make_move_iterator(part.rejected.end()));
  all.alerts.insert(all.alerts.end(), std::make_move_iterator(part.alerts.begin()),
                    std::make_move_iterator(part.alerts.end()));
}

}  // namespace

IngestLanes::IngestLanes(IngestOptions options, StateStore* store, const Clock* clock,
                         IngestProbe* probe, const std::vector<LanePorts>& lanes,
                         PopulationBoard* board, EventClock* event_clock,
                         const std::function<void()>& lane_started)
    : store_(store),
      clock_(clock),
      board_(board),
      threads_(static_cast<int>(lanes.size()), lane_started) {
  CRM_CHECK(!lanes.empty());
  const std::size_t n = lanes.size();
  options.cache_entries = ShareOf(options.cache_entries, n);
  if (options.cache_bytes > 0) options.cache_bytes = ShareOf(options.cache_bytes, n);
  options.schedule_entries = ShareOf(options.schedule_entries, n);
  options.alert_sequence = &alert_sequence_;
  for (const LanePorts& ports : lanes) {
    IngestMode mode;
    if (ports.rejects != nullptr) mode.rejects = DeadLetters{ports.rejects};
    boards_.push_back(std::make_unique<PopulationBoard>());
    mode.population = PublishedPopulation{boards_.back().get()};
    if (event_clock != nullptr) mode.event_clock = FeedEventClock{event_clock};
    lanes_.push_back(std::make_unique<IngestProcessor>(options, store, clock, probe, mode));
  }
}

IngestLanes::~IngestLanes() = default;

absl::Status IngestLanes::Load() {
  for (auto& lane : lanes_) {
    if (absl::Status loaded = lane->Load(); !loaded.ok()) return loaded;
  }
  SharePopulation(true);
  return absl::OkStatus();
}

void IngestLanes::EnableAlerts(const AlertContext& context) {
  for (auto& lane : lanes_) lane->EnableAlerts(context);
}

void IngestLanes::EnableChangelog(std::vector<ChangelogContext> contexts) {
  CRM_CHECK(contexts.size() == lanes_.size());
  for (std::size_t i = 0; i < lanes_.size(); ++i)
    lanes_[i]->EnableChangelog(std::move(contexts[i]));
}

void IngestLanes::Deal(std::int32_t partition) {
  if (lane_of_.contains(partition)) return;
  std::vector<std::size_t> held(lanes_.size(), 0);
  for (const auto& [p, lane] : lane_of_) ++held[lane];
  lane_of_[partition] =
      static_cast<std::size_t>(std::min_element(held.begin(), held.end()) - held.begin());
}

std::size_t IngestLanes::LaneOf(std::int32_t partition) const {
  auto dealt = lane_of_.find(partition);
  if (dealt != lane_of_.end()) return dealt->second;
  // Not assigned (records before the first assignment, or tests): a lane
  // that depends on the partition alone.
  return static_cast<std::size_t>(partition) % lanes_.size();
}

absl::Status IngestLanes::OnEveryLane(const std::function<absl::Status(std::size_t)>& body) {
  std::vector<absl::Status> statuses(lanes_.size());
  threads_.Run(
      lanes_.size(), [&](std::size_t i) { statuses[i] = body(i); }, /*min_parallel=*/2);
  for (const absl::Status& status : statuses) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<BatchResult> IngestLanes::Process(const std::vector<InputRecord>& records) {
  Start(records);
  return Finish();
}

void IngestLanes::Start(const std::vector<InputRecord>& records) {
  CRM_CHECK(!in_flight_);  // one batch at a time
  in_flight_ = true;
  parts_.assign(lanes_.size(), {});
  for (std::size_t i = 0; i < records.size(); ++i) {
    const std::int32_t partition = records[i].partition;
    CRM_CHECK(partition >= 0);  // the source's
    parts_[LaneOf(partition)].push_back(i);
  }
  results_.assign(lanes_.size(), BatchResult{});
  threads_.Begin(lanes_.size(), [this, &records](std::size_t i) {
    if (!parts_[i].empty()) results_[i] = lanes_[i]->ProcessOnly(records, &parts_[i]);
  });
}

absl::StatusOr<BatchResult> IngestLanes::Finish() {
  CRM_CHECK(in_flight_);  // after a Start
  threads_.Wait();
  in_flight_ = false;
  SharePopulation(false);  // what the lanes that succeeded committed
  BatchResult all;
  for (absl::StatusOr<BatchResult>& result : results_) {
    // The first lane's error, in lane order.
    if (!result.ok()) return result.status();
    Merge(all, std::move(*result));
  }
  std::sort(all.rejected.begin(), all.rejected.end(),
            [](const RejectedRecord& a, const RejectedRecord& b) { return a.index < b.index; });
  return all;
}

absl::StatusOr<BatchResult> IngestLanes::TakeDueLooks(std::size_t limit) {
  CRM_CHECK(!in_flight_);  // between batches only
  // Each lane up to the whole limit: a round takes as long as one lane's,
  // and more due than a round takes still shows in the total.
  std::vector<BatchResult> results(lanes_.size());
  absl::Status taken = OnEveryLane([&](std::size_t i) -> absl::Status {
    auto result = lanes_[i]->TakeDueLooks(limit);
    if (!result.ok()) return result.status();
    results[i] = std::move(*result);
    return absl::OkStatus();
  });
  SharePopulation(false);
  if (!taken.ok()) return taken;
  BatchResult all;
  for (BatchResult& result : results) Merge(all, std::move(result));
  return all;
}

void IngestLanes::Idle() {
  CRM_CHECK(!in_flight_);  // between batches only
  SharePopulation(true);
}

absl::Status IngestLanes::SetAssignment(const std::vector<std::int32_t>& partitions) {
  CRM_CHECK(!in_flight_);  // between batches only
  // Sticky: a partition kept stays in its lane (its hand-over state is
  // there); those given are dealt to the lanes holding the fewest.
  const std::set<std::int32_t> given(partitions.begin(), partitions.end());
  std::erase_if(lane_of_, [&](const auto& entry) { return !given.contains(entry.first); });
  for (std::int32_t partition : given) Deal(partition);
  std::vector<std::vector<std::int32_t>> dealt(lanes_.size());
  for (const auto& [partition, lane] : lane_of_) dealt[lane].push_back(partition);
  for (std::size_t i = 0; i < lanes_.size(); ++i) {
    if (absl::Status set = lanes_[i]->SetAssignment(dealt[i]); !set.ok()) return set;
  }
  shared_versions_.clear();  // every lane's owned set moved: all shared again
  SharePopulation(true);
  return absl::OkStatus();
}

absl::StatusOr<RestoreResult> IngestLanes::RestorePartition(
    std::int32_t partition, const std::function<void(std::uint64_t)>& progress) {
  CRM_CHECK(!in_flight_);  // between batches only
  // Restored before the assignment that gives it is applied: dealt now,
  // so that the lane that restores it is the lane that consumes it.
  Deal(partition);
  auto restored = lanes_[LaneOf(partition)]->RestorePartition(partition, progress);
  SharePopulation(true);
  return restored;
}

absl::Status IngestLanes::TakeErasures(ErasureQueue& queue, AuditLog& audit) {
  CRM_CHECK(!in_flight_);  // between batches only
  std::vector<ErasureQueue::Pending> requests = queue.TakeAll();
  // Nothing asked: the lanes' views are left as they are (building them
  // again costs each lane a pass over the population).
  if (requests.empty()) return absl::OkStatus();
  std::vector<ErasureQueue> queues(lanes_.size());
  for (ErasureQueue::Pending& pending : requests) {
    // The lane whose cache may hold the customer: that of the partition
    // their state is under (a request naming another is refused there,
    // nothing written), else that of the partition the request names (a
    // fence for a customer not known yet); any lane says when there is
    // nothing to erase.
    auto stored = store_->Find(pending.request.customer);
    if (!stored.ok()) {
      pending.done.set_value(absl::UnavailableError("finding the customer's partition: " +
                                                    std::string(stored.status().message())));
      continue;
    }
    const std::int32_t partition = *stored ? (*stored)->partition : pending.request.partition;
    queues[LaneOf(std::max(partition, 0))].Add(std::move(pending));
  }
  absl::Status result;
  for (std::size_t i = 0; i < lanes_.size() && result.ok(); ++i) {
    result = lanes_[i]->TakeErasures(queues[i], audit);
  }
  // A lane that stopped on an error left its requests: refused, as the
  // processor refuses those it does not reach.
  for (ErasureQueue& left : queues) {
    for (ErasureQueue::Pending& pending : left.TakeAll()) {
      pending.done.set_value(absl::UnavailableError(
          "the erasure was not reached: " + std::string(result.message()) + "; retry"));
    }
  }
  SharePopulation(true);
  return result;
}

void IngestLanes::TakeRemotePopulation(RemotePopulationInbox& inbox) {
  CRM_CHECK(!in_flight_);  // between batches only
  std::map<std::int32_t, std::vector<PopulationCell>> published = inbox.Take();
  if (published.empty()) return;
  for (auto& lane : lanes_) {
    RemotePopulationInbox each;
    for (const auto& [partition, cells] : published) each.Put(partition, cells);
    lane->TakeRemotePopulation(each);
  }
  if (board_ != nullptr) board_->Publish(boards_.front()->Current());
}

std::vector<PopulationCell> IngestLanes::PopulationCells(std::int32_t partition) const {
  CRM_CHECK(!in_flight_);  // between batches only
  return lanes_[LaneOf(partition)]->PopulationCells(partition);
}

std::uint64_t IngestLanes::PopulationVersion(std::int32_t partition) const {
  CRM_CHECK(!in_flight_);  // between batches only
  return lanes_[LaneOf(partition)]->PopulationVersion(partition);
}

ScheduleBacklog IngestLanes::Backlog(Timestamp until, std::uint64_t cap) const {
  ScheduleBacklog all;
  for (const auto& lane : lanes_) {
    const ScheduleBacklog backlog = lane->Backlog(until, cap);
    all.due = std::min(cap, all.due + backlog.due);
    if (backlog.earliest && (!all.earliest || *backlog.earliest < *all.earliest)) {
      all.earliest = backlog.earliest;
    }
  }
  return all;
}

void IngestLanes::AlertDelivered(const AlertEvent& alert) {
  for (auto& lane : lanes_) lane->AlertDelivered(alert);
}

void IngestLanes::SharePopulation(bool always) {
  const Timestamp now = clock_->Now();
  const bool due = always || now < last_shared_ || now - last_shared_ >= kShareInterval;
  if (due) last_shared_ = now;
  if (due && lanes_.size() > 1) {
    std::vector<RemotePopulationInbox> inboxes(lanes_.size());
    bool moved = false;
    auto share = [&](std::int32_t partition, std::size_t owner) {
      const std::uint64_t version = lanes_[owner]->PopulationVersion(partition);
      auto shared = shared_versions_.find(partition);
      if (shared != shared_versions_.end() && shared->second == version) return;
      shared_versions_[partition] = version;
      const std::vector<PopulationCell> cells = lanes_[owner]->PopulationCells(partition);
      for (std::size_t i = 0; i < lanes_.size(); ++i) {
        if (i != owner) inboxes[i].Put(partition, cells);
      }
      moved = true;
    };
    for (const auto& [partition, lane] : lane_of_) share(partition, lane);
    if (moved) {
      for (std::size_t i = 0; i < lanes_.size(); ++i) lanes_[i]->TakeRemotePopulation(inboxes[i]);
    }
  }
  if (board_ != nullptr) board_->Publish(boards_.front()->Current());
}

}  // namespace crm
