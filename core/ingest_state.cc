#include "core/ingest_state.h"

#include <utility>

namespace crm {

IngestState::IngestState(StateStore* store, std::string topic, std::size_t cache_entries,
                         std::size_t cache_bytes, IngestProbe* probe, PopulationBoard* board,
                         EventClock* event_clock)
    : store(store),
      topic(std::move(topic)),
      probe(probe),
      board(board),
      event_clock(event_clock),
      cache(cache_entries, cache_bytes) {}

absl::StatusOr<PartitionState> IngestState::Partition(std::int32_t partition) {
  auto it = partitions.find(partition);
  if (it != partitions.end()) return it->second;
  auto stored = store->GetPartition(topic, partition);
  if (!stored.ok()) return stored.status();
  return partitions.emplace(partition, stored->value_or(PartitionState{})).first->second;
}

void IngestState::PublishPopulation() {
  if (board != nullptr) board->Publish(population.View());
}

void IngestState::SetLatestEvent(std::optional<Timestamp> latest) {
  latest_event = latest;
  if (event_clock != nullptr && latest_event) event_clock->Observe(*latest_event);
}

}  // namespace crm
