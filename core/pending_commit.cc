#include "core/pending_commit.h"

#include <iterator>
#include <utility>

#include "core/check.h"

namespace crm {

PendingCommit::PendingCommit(IngestState* state, Timestamp started,
                             const std::vector<InputRecord>* input,
                             std::shared_ptr<const Scorer> scorer,
                             std::shared_ptr<const PopulationView> view)
    : ingest(state),
      started(started),
      input(input),
      scorer(std::move(scorer)),
      view(std::move(view)),
      latest_event(state->latest_event) {}

PendingCommit::~PendingCommit() {
  if (committed_) return;
  for (const CustomerId& id : lent_) ingest->cache.Erase(id);
}

absl::StatusOr<PendingCommit::Partition*> PendingCommit::PartitionOf(std::int32_t partition) {
  auto it = partitions.find(partition);
  if (it != partitions.end()) return &it->second;
  auto state = ingest->Partition(partition);
  if (!state.ok()) return state.status();
  Partition& p = partitions[partition];
  p.state = *std::move(state);
  return &p;
}

absl::StatusOr<PendingCommit::Customer*> PendingCommit::CustomerOf(const CustomerId& id,
                                                                   std::int32_t partition_id,
                                                                   Partition& partition,
                                                                   bool known_only) {
  auto it = customers.find(id);
  if (it != customers.end()) return &it->second;
  Customer customer;
  // A state is kept under its partition: a cached one of another partition
  // (a producer that keyed the customer's touchpoints inconsistently) is not
  // this partition's.
  CustomerState* cached = ingest->cache.Lend(id);
  if (cached != nullptr && (cached->partition < 0 || cached->partition == partition_id)) {
    customer.state = std::move(*cached);
    lent_.push_back(id);
  } else {
    auto stored = ingest->store->Get(partition_id, id);
    if (!stored.ok()) return stored.status();
    if (*stored) {
      customer.state = std::move(**stored);
    } else if (known_only) {
      return nullptr;
    }
  }
  customer.partition = partition_id;
  customer.population_before = PopulationEntryOf(customer.state);
  customer.due_before = customer.state.alert.next_look;
  customer.risk_before = customer.state.alert.indexed_churn;
  customer.appetence_before = customer.state.alert.indexed_appetence;
  customer.follow_ups_before = customer.state.alert.follow_ups;
  // From now on the commit's entry stands for the customer in the time index.
  if (customer.due_before) partition.due.insert(DueEntry{*customer.due_before, id});
  return &customers.emplace(id, std::move(customer)).first->second;
}

StateBatch PendingCommit::Batch() {
  StateBatch batch;
  batch.customers.reserve(customers.size());
  moved_.clear();
  for (const auto& [id, customer] : customers) {
    batch.customers.emplace_back(&id, &customer.state);
    std::optional<PopulationEntry> after = PopulationEntryOf(customer.state);
    if (after != customer.population_before) {
      ingest->population.Replace(customer.partition, customer.population_before, after,
                                 &batch.population);
      moved_.push_back({customer.partition, customer.population_before, after});
    }
    const AlertState& alert = customer.state.alert;
    const std::optional<double> risk = alert.indexed_churn;
    if (risk != customer.risk_before || alert.indexed_appetence != customer.appetence_before ||
        alert.follow_ups != customer.follow_ups_before) {
      batch.index.push_back({.partition = customer.partition,
                             .customer = &id,
                             .risk_from = customer.risk_before,
                             .risk_to = risk,
                             .appetence_from = customer.appetence_before,
                             .appetence_to = alert.indexed_appetence,
                             .follow_ups_from = &customer.follow_ups_before,
                             .follow_ups_to = &alert.follow_ups});
    }
  }
  batch.touchpoints = touchpoints;
  for (const auto& [partition, part] : partitions) {
    if (part.state != ingest->partitions[partition]) {
      batch.partitions.emplace_back(partition, part.state);
    }
  }
  if (latest_event != ingest->latest_event) batch.latest_event_time = latest_event;
  // Raises and clears alike, in the order taken: a clear after its raise.
  for (const AlertEvent& alert : alerts) {
    batch.outbox.emplace_back(ingest->alert_sequence->Take(), &alert);
  }
  return batch;
}

void PendingCommit::Rollback() {
  for (const Moved& m : moved_) ingest->population.Replace(m.partition, m.after, m.before, nullptr);
  moved_.clear();
}

void PendingCommit::Committed(StateBatch& batch, BatchResult& result) {
  IngestProbe& probe = *ingest->probe;
  if (!moved_.empty()) ingest->PublishPopulation();
  ingest->SetLatestEvent(latest_event);
  for (const auto& [partition, state] : batch.partitions) {
    PartitionState& committed = ingest->partitions[partition];
    if (state.open_alerts != committed.open_alerts) probe.OpenAlerts(partition, state.open_alerts);
    committed = state;
  }
  OutcomeTotals followed;
  // In the order Batch() listed them: each with its encoding, when it has one.
  std::size_t i = 0;
  for (auto& [id, customer] : customers) {
    CRM_CHECK(batch.customers[i].first == &id);
    AddProgress(customer.follow_ups_before, customer.state.alert.follow_ups, followed);
    std::shared_ptr<const std::string> encoded;
    if (!batch.encoded.empty())
      encoded = std::make_shared<const std::string>(std::move(batch.encoded[i]));
    ingest->cache.Put(id, std::move(customer.state), std::move(encoded));
    ++i;
  }
  if (followed != OutcomeTotals{}) probe.FollowedUp(followed);
  committed_ = true;
  for (const AlertEvent& alert : alerts) {
    probe.AlertChanged(alert.outcome.transition == AlertTransition::kRaised, alert.action,
                       alert.segment);
  }
  if (looks_due > 0) probe.LooksTaken(looks_due);
  if (!look_churns.empty()) probe.Looked(look_churns);
  result.looks_taken += looks_due;
  result.rejected.insert(result.rejected.end(), std::make_move_iterator(rejected.begin()),
                         std::make_move_iterator(rejected.end()));
  result.alerts.insert(result.alerts.end(), std::make_move_iterator(alerts.begin()),
                       std::make_move_iterator(alerts.end()));
}

}  // namespace crm
