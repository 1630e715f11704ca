#pragma once

// What the rooms of the ingest share (the pending commit, the look scheduler,
// the partition hand-over, erasure; IngestProcessor coordinates them): the
// committed state as this process knows it, and the partitions it owns.
// Used by the consumer thread only.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "core/alert_sequence.h"
#include "core/clock.h"
#include "core/ingest_probe.h"
#include "core/population.h"
#include "core/state_cache.h"
#include "core/state_store.h"

namespace crm {

struct IngestState {
  // The pointers must outlive the state; `board` and `event_clock` may be null.
  IngestState(StateStore* store, std::string topic, std::size_t cache_entries,
              std::size_t cache_bytes, IngestProbe* probe, PopulationBoard* board,
              EventClock* event_clock);

  // The partition's state as committed, read once from the store.
  absl::StatusOr<PartitionState> Partition(std::int32_t partition);
  // Publishes the population's view on the board, if there is one.
  void PublishPopulation();
  // The latest event time committed is now `latest`; the event clock learns it.
  void SetLatestEvent(std::optional<Timestamp> latest);

  StateStore* const store;
  const std::string topic;  // whose offsets are committed
  IngestProbe* const probe;
  PopulationBoard* const board;
  EventClock* const event_clock;

  // Mirrors of the store, moved only once a commit of theirs succeeded (the
  // population ahead of it while a commit is built, and put back when it
  // fails).
  StateCache cache;  // committed states, the most recently used
  Population population;
  std::map<std::int32_t, PartitionState> partitions;  // as read or written
  std::optional<Timestamp> latest_event;
  // Where the outbox's sequence numbers are taken: shared with the other
  // processors of the store, or this one's own.
  AlertSequence own_alert_sequence;
  AlertSequence* alert_sequence = &own_alert_sequence;

  // The partitions this instance owns, as told by SetAssignment, and those
  // Process saw records of since.
  std::set<std::int32_t> assigned;
  bool assignment_known = false;  // SetAssignment was called: `assigned` is the truth
};

}  // namespace crm
