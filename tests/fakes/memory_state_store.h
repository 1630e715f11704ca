#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/customer_id.h"
#include "core/customer_state.h"
#include "core/look_schedule.h"
#include "core/state_store.h"

namespace crm::testing {

// A StateStore in memory (LevelDB's memenv, Redpanda's memory_persistence).
// Thread-safe: every method takes one mutex, so a Commit is atomic and a Get
// never sees part of a batch.
class MemoryStateStore final : public StateStore {
 public:
  absl::StatusOr<std::optional<CustomerState>> Get(std::int32_t partition,
                                                   const CustomerId& id) override {
    absl::MutexLock lock(&mutex_);
    auto it = states_.find({partition, id});
    if (it == states_.end()) return std::optional<CustomerState>();
    return std::optional<CustomerState>(it->second);
  }

  absl::StatusOr<std::optional<CustomerState>> Locate(const CustomerId& id,
                                                      std::optional<std::int32_t> hint) override {
    absl::MutexLock lock(&mutex_);
    if (hint) {
      if (auto it = states_.find({*hint, id}); it != states_.end()) {
        return std::optional<CustomerState>(it->second);
      }
    }
    for (const auto& [key, state] : states_) {
      if (key.second == id) return std::optional<CustomerState>(state);
    }
    return std::optional<CustomerState>();
  }

  absl::StatusOr<std::vector<Touchpoint>> RecentTouchpoints(std::int32_t partition,
                                                            const CustomerId& id,
                                                            std::uint64_t through,
                                                            std::size_t limit) override {
    absl::MutexLock lock(&mutex_);
    std::vector<Touchpoint> recent;
    const std::uint64_t lowest =
        through >= kRecentTouchpoints ? through - kRecentTouchpoints + 1 : 0;
    auto it = touchpoints_.upper_bound({partition, id, through});
    while (it != touchpoints_.begin() && recent.size() < limit) {
      --it;
      const auto& [key_partition, key_id, sequence] = it->first;
      if (key_partition != partition || key_id != id || sequence < lowest) break;
      recent.push_back(it->second);
    }
    return recent;
  }

  absl::Status DropPartition(const std::string& topic, std::int32_t partition) override {
    absl::MutexLock lock(&mutex_);
    std::erase_if(states_, [&](const auto& entry) { return entry.first.first == partition; });
    std::erase_if(touchpoints_,
                  [&](const auto& entry) { return std::get<0>(entry.first) == partition; });
    std::erase_if(risk_, [&](const auto& entry) { return std::get<2>(entry) == partition; });
    std::erase_if(offers_, [&](const auto& entry) { return std::get<3>(entry) == partition; });
    std::erase_if(outcomes_,
                  [&](const auto& entry) { return std::get<0>(entry.first) == partition; });
    std::erase_if(population_, [&](const auto& entry) {
      return std::get<0>(entry.first) == topic && std::get<1>(entry.first) == partition;
    });
    partitions_.erase({topic, partition});
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<PartitionState>> GetPartition(const std::string& topic,
                                                             std::int32_t partition) override {
    absl::MutexLock lock(&mutex_);
    auto it = partitions_.find({topic, partition});
    if (it == partitions_.end()) return std::optional<PartitionState>();
    return std::optional<PartitionState>(it->second);
  }

  absl::StatusOr<std::optional<Timestamp>> LoadLatestEventTime(const std::string& topic) override {
    absl::MutexLock lock(&mutex_);
    auto it = latest_event_.find(topic);
    if (it == latest_event_.end()) return std::optional<Timestamp>();
    return std::optional<Timestamp>(it->second);
  }

  absl::StatusOr<std::vector<PopulationCell>> LoadPopulation(const std::string& topic) override {
    absl::MutexLock lock(&mutex_);
    std::vector<PopulationCell> cells;
    for (const auto& [key, cell] : population_) {
      if (std::get<0>(key) == topic) cells.push_back(cell);
    }
    return cells;
  }

  absl::Status ForEachNextLook(
      std::int32_t partition,
      const std::function<void(const CustomerId&, Timestamp)>& visit) override {
    absl::MutexLock lock(&mutex_);
    ++next_look_scans_;
    for (const auto& [key, state] : states_) {
      if (key.first == partition && state.alert.next_look)
        visit(key.second, *state.alert.next_look);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<RiskEntry>> Riskiest(const std::optional<RiskEntry>& after,
                                                  std::size_t limit) override {
    absl::MutexLock lock(&mutex_);
    std::vector<RiskEntry> riskiest;
    auto it = risk_.begin();
    if (after) {
      it = risk_.upper_bound({-after->churn, after->customer, std::numeric_limits<int>::max()});
    }
    for (; it != risk_.end() && riskiest.size() < limit; ++it) {
      riskiest.push_back({-std::get<0>(*it), std::get<1>(*it), std::get<2>(*it)});
    }
    return riskiest;
  }

  absl::StatusOr<std::vector<OfferEntry>> LikeliestBuyers(std::string_view product,
                                                          const std::optional<OfferEntry>& after,
                                                          std::size_t limit) override {
    absl::MutexLock lock(&mutex_);
    std::vector<OfferEntry> likeliest;
    const std::string name(product);
    auto it = offers_.lower_bound({name, -2.0, CustomerId(), 0});
    if (after) {
      it = offers_.upper_bound(
          {name, -after->probability, after->customer, std::numeric_limits<int>::max()});
    }
    for (; it != offers_.end() && std::get<0>(*it) == name && likeliest.size() < limit; ++it) {
      likeliest.push_back({-std::get<1>(*it), std::get<2>(*it), std::get<3>(*it)});
    }
    return likeliest;
  }

  absl::Status ForEachFollowUp(std::optional<Timestamp> since, std::optional<Timestamp> until,
                               const std::function<bool(std::int32_t)>& take,
                               const std::function<void(const AlertFollowUp&)>& visit) override {
    absl::MutexLock lock(&mutex_);
    for (const auto& [key, follow_up] : outcomes_) {
      if (!take(std::get<0>(key)) || (since && follow_up.raised_at < *since) ||
          (until && follow_up.raised_at >= *until)) {
        continue;
      }
      visit(follow_up);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::pair<std::uint64_t, AlertEvent>>> PendingAlerts(
      std::size_t limit) override {
    absl::MutexLock lock(&mutex_);
    std::vector<std::pair<std::uint64_t, AlertEvent>> pending;
    for (auto it = outbox_.begin(); it != outbox_.end() && pending.size() < limit; ++it) {
      pending.emplace_back(it->first, it->second);
    }
    return pending;
  }

  absl::StatusOr<std::optional<std::uint64_t>> LastPendingAlert() override {
    absl::MutexLock lock(&mutex_);
    if (outbox_.empty()) return std::optional<std::uint64_t>();
    return std::optional<std::uint64_t>(outbox_.rbegin()->first);
  }

  absl::Status AckAlerts(const std::vector<std::uint64_t>& sequences) override {
    absl::MutexLock lock(&mutex_);
    for (std::uint64_t sequence : sequences) outbox_.erase(sequence);
    return absl::OkStatus();
  }

  absl::Status Commit(const std::string& topic, const StateBatch& batch) override {
    absl::MutexLock lock(&mutex_);
    for (const AppliedTouchpoint& applied : batch.touchpoints) {
      const CustomerId& id = applied.touchpoint->customer_id;
      Touchpoint kept = *applied.touchpoint;
      kept.attributes.clear();
      touchpoints_.insert_or_assign({applied.partition, id, applied.sequence}, std::move(kept));
      if (applied.sequence > kRecentTouchpoints) {
        touchpoints_.erase({applied.partition, id, applied.sequence - kRecentTouchpoints});
      }
    }
    for (const auto& erased : batch.erased) {
      const std::int32_t partition = erased.first;
      const CustomerId& id = *erased.second;
      states_.erase({partition, id});
      std::erase_if(touchpoints_, [&](const auto& entry) {
        return std::get<0>(entry.first) == partition && std::get<1>(entry.first) == id;
      });
    }
    for (std::uint64_t sequence : batch.outbox_removed) outbox_.erase(sequence);
    for (const auto& [sequence, alert] : batch.outbox) outbox_.insert_or_assign(sequence, *alert);
    for (const IndexChange& change : batch.index) {
      const CustomerId& id = *change.customer;
      if (change.risk_from) risk_.erase({-*change.risk_from, id, change.partition});
      if (change.risk_to) risk_.insert({-*change.risk_to, id, change.partition});
      for (const auto& [product, probability] : change.appetence_from) {
        offers_.erase({product, -probability, id, change.partition});
      }
      for (const auto& [product, probability] : change.appetence_to) {
        offers_.insert({product, -probability, id, change.partition});
      }
      const FollowUpMoves moves = FollowUpsMoved(change.follow_ups_from, change.follow_ups_to);
      for (const AlertFollowUp* gone : moves.gone) {
        outcomes_.erase({change.partition, gone->raised_at, id, gone->number});
      }
      for (const AlertFollowUp* come : moves.come) {
        outcomes_.insert_or_assign({change.partition, come->raised_at, id, come->number}, *come);
      }
    }
    for (const auto& [id, state] : batch.customers) {
      if (state->partition < 0) return absl::InvalidArgumentError("a state without partition");
    }
    for (const auto& [id, state] : batch.customers) {
      states_.insert_or_assign({state->partition, *id}, *state);
    }
    if (batch.latest_event_time) latest_event_.insert_or_assign(topic, *batch.latest_event_time);
    for (const PopulationCell& cell : batch.population) {
      const auto key = std::make_tuple(topic, cell.partition, cell.axis, cell.bucket);
      if (cell.count == 0) {
        population_.erase(key);
      } else {
        population_.insert_or_assign(key, cell);
      }
    }
    for (const auto& [partition, state] : batch.partitions) {
      partitions_.insert_or_assign({topic, partition}, state);
    }
    ++commits_;
    if (batch.sync) ++synced_commits_;
    return absl::OkStatus();
  }

  // Successful commits asked to be fsynced (StateBatch::sync).
  int synced_commits() const {
    absl::MutexLock lock(&mutex_);
    return synced_commits_;
  }

  // Successful commits so far.
  int commits() const {
    absl::MutexLock lock(&mutex_);
    return commits_;
  }

  // A snapshot of every committed state, by customer (a customer kept under
  // two partitions appears once: under the higher).
  std::map<CustomerId, CustomerState> states() const {
    absl::MutexLock lock(&mutex_);
    std::map<CustomerId, CustomerState> states;
    for (const auto& [key, state] : states_) states.insert_or_assign(key.second, state);
    return states;
  }

  // A snapshot of every committed offset, by (topic, partition).
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> offsets() const {
    absl::MutexLock lock(&mutex_);
    std::map<std::pair<std::string, std::int32_t>, std::int64_t> offsets;
    for (const auto& [key, state] : partitions_) {
      if (state.next_offset) offsets[key] = *state.next_offset;
    }
    return offsets;
  }

  // A snapshot of every committed partition record, by (topic, partition).
  std::map<std::pair<std::string, std::int32_t>, PartitionState> partitions() const {
    absl::MutexLock lock(&mutex_);
    return partitions_;
  }

  // How many times the next looks of a partition were read (ForEachNextLook).
  int next_look_scans() const {
    absl::MutexLock lock(&mutex_);
    return next_look_scans_;
  }

  // The time index the committed states make (their next looks), by partition.
  std::map<std::int32_t, std::set<DueEntry>> due() const {
    absl::MutexLock lock(&mutex_);
    std::map<std::int32_t, std::set<DueEntry>> due;
    for (const auto& [key, state] : states_) {
      if (state.alert.next_look) due[key.first].insert({*state.alert.next_look, key.second});
    }
    return due;
  }

  // A snapshot of the at-risk index, highest churn first.
  std::vector<RiskEntry> risk() const {
    absl::MutexLock lock(&mutex_);
    std::vector<RiskEntry> risk;
    for (const auto& [churn, id, partition] : risk_) risk.push_back({-churn, id, partition});
    return risk;
  }

  // A snapshot of the offer index of `product`, highest appetence first.
  std::vector<OfferEntry> offers(const std::string& product) const {
    absl::MutexLock lock(&mutex_);
    std::vector<OfferEntry> offers;
    for (const auto& [name, probability, id, partition] : offers_) {
      if (name == product) offers.push_back({-probability, id, partition});
    }
    return offers;
  }

  // A snapshot of the outcome index: each customer's follow-ups, by
  // partition then time of raising.
  std::vector<std::pair<CustomerId, AlertFollowUp>> outcomes() const {
    absl::MutexLock lock(&mutex_);
    std::vector<std::pair<CustomerId, AlertFollowUp>> outcomes;
    for (const auto& [key, follow_up] : outcomes_)
      outcomes.emplace_back(std::get<2>(key), follow_up);
    return outcomes;
  }

  // A snapshot of the outbox, by sequence.
  std::map<std::uint64_t, AlertEvent> outbox() const {
    absl::MutexLock lock(&mutex_);
    return outbox_;
  }

 private:
  mutable absl::Mutex mutex_;
  std::map<std::pair<std::int32_t, CustomerId>, CustomerState> states_ ABSL_GUARDED_BY(mutex_);
  std::map<std::pair<std::string, std::int32_t>, PartitionState> partitions_
      ABSL_GUARDED_BY(mutex_);
  std::map<std::tuple<std::string, std::int32_t, PopulationAxis, std::int64_t>, PopulationCell>
      population_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, Timestamp> latest_event_ ABSL_GUARDED_BY(mutex_);
  // Recent touchpoints, by (partition, customer, sequence).
  std::map<std::tuple<std::int32_t, CustomerId, std::uint64_t>, Touchpoint> touchpoints_
      ABSL_GUARDED_BY(mutex_);
  // By -churn, then customer, then partition.
  std::set<std::tuple<double, CustomerId, std::int32_t>> risk_ ABSL_GUARDED_BY(mutex_);
  // By product, then -appetence, then customer, then partition.
  std::set<std::tuple<std::string, double, CustomerId, std::int32_t>> offers_
      ABSL_GUARDED_BY(mutex_);
  // By partition, then time of raising, then customer, then alert number.
  std::map<std::tuple<std::int32_t, Timestamp, CustomerId, std::uint64_t>, AlertFollowUp> outcomes_
      ABSL_GUARDED_BY(mutex_);
  std::map<std::uint64_t, AlertEvent> outbox_ ABSL_GUARDED_BY(mutex_);
  int commits_ ABSL_GUARDED_BY(mutex_) = 0;
  int synced_commits_ ABSL_GUARDED_BY(mutex_) = 0;
  int next_look_scans_ ABSL_GUARDED_BY(mutex_) = 0;
};

// A store that passes every call to `inner` (REQUIRES: it outlives this
// one): the base of the stores that fail on purpose, each overriding only
// what it makes fail. Thread-safe if `inner` is.
class ForwardingStateStore : public StateStore {
 public:
  explicit ForwardingStateStore(StateStore* inner) : inner_(inner) {}

  absl::StatusOr<std::optional<CustomerState>> Get(std::int32_t partition,
                                                   const CustomerId& id) override {
    return inner_->Get(partition, id);
  }
  absl::StatusOr<std::optional<CustomerState>> Locate(const CustomerId& id,
                                                      std::optional<std::int32_t> hint) override {
    return inner_->Find(id, hint);
  }
  absl::StatusOr<std::vector<Touchpoint>> RecentTouchpoints(std::int32_t partition,
                                                            const CustomerId& id,
                                                            std::uint64_t through,
                                                            std::size_t limit) override {
    return inner_->RecentTouchpoints(partition, id, through, limit);
  }
  absl::Status DropPartition(const std::string& topic, std::int32_t partition) override {
    return inner_->DropPartition(topic, partition);
  }

  absl::StatusOr<std::optional<PartitionState>> GetPartition(const std::string& topic,
                                                             std::int32_t partition) override {
    return inner_->GetPartition(topic, partition);
  }

  absl::StatusOr<std::optional<Timestamp>> LoadLatestEventTime(const std::string& topic) override {
    return inner_->LoadLatestEventTime(topic);
  }

  absl::StatusOr<std::vector<PopulationCell>> LoadPopulation(const std::string& topic) override {
    return inner_->LoadPopulation(topic);
  }

  absl::Status ForEachNextLook(
      std::int32_t partition,
      const std::function<void(const CustomerId&, Timestamp)>& visit) override {
    return inner_->ForEachNextLook(partition, visit);
  }

  absl::StatusOr<std::vector<RiskEntry>> Riskiest(const std::optional<RiskEntry>& after,
                                                  std::size_t limit) override {
    return inner_->Riskiest(after, limit);
  }

  absl::StatusOr<std::vector<OfferEntry>> LikeliestBuyers(std::string_view product,
                                                          const std::optional<OfferEntry>& after,
                                                          std::size_t limit) override {
    return inner_->LikeliestBuyers(product, after, limit);
  }

  absl::Status ForEachFollowUp(std::optional<Timestamp> since, std::optional<Timestamp> until,
                               const std::function<bool(std::int32_t)>& take,
                               const std::function<void(const AlertFollowUp&)>& visit) override {
    return inner_->ForEachFollowUp(since, until, take, visit);
  }

  absl::StatusOr<std::vector<std::pair<std::uint64_t, AlertEvent>>> PendingAlerts(
      std::size_t limit) override {
    return inner_->PendingAlerts(limit);
  }

  absl::StatusOr<std::optional<std::uint64_t>> LastPendingAlert() override {
    return inner_->LastPendingAlert();
  }

  absl::Status AckAlerts(const std::vector<std::uint64_t>& sequences) override {
    return inner_->AckAlerts(sequences);
  }

  absl::Status Commit(const std::string& topic, const StateBatch& batch) override {
    return inner_->Commit(topic, batch);
  }

 private:
  StateStore* const inner_;
};

// Wraps a store and fails its Nth Commit (1-based, counting every attempt)
// with UnavailableError, passing nothing of that batch to the wrapped store
// (LevelDB's ErrorEnv): proves that a failed commit advances nothing. Other
// commits and every read go through. Thread-safe if `inner` is.
class FaultyStateStore final : public ForwardingStateStore {
 public:
  // REQUIRES: `inner` outlives this store.
  FaultyStateStore(StateStore* inner, int fail_commit)
      : ForwardingStateStore(inner), fail_commit_(fail_commit) {}

  absl::Status Commit(const std::string& topic, const StateBatch& batch) override {
    {
      absl::MutexLock lock(&mutex_);
      if (++attempts_ == fail_commit_) return absl::UnavailableError("injected commit failure");
    }
    return ForwardingStateStore::Commit(topic, batch);
  }

  // Commit calls so far, the failed one included.
  int attempts() const {
    absl::MutexLock lock(&mutex_);
    return attempts_;
  }

 private:
  const int fail_commit_;
  mutable absl::Mutex mutex_;
  int attempts_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace crm::testing
