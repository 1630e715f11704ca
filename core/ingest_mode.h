#pragma once

// How an IngestProcessor is wired beyond its store, said with a type for
// each choice rather than by which constructor pointers are null.

#include <variant>

#include "core/clock.h"
#include "core/population.h"
#include "core/reject_sink.h"

namespace crm {

// Rejected records are only counted (the probe)…
struct CountRejects {};
// …or also sent to a dead-letter sink, flushed before each commit.
struct DeadLetters {
  RejectSink* sink;  // not null
};

// The population is kept for this processor's looks only…
struct PrivatePopulation {};
// …or its view is also published on a board, after each commit that moved it.
struct PublishedPopulation {
  PopulationBoard* board;  // not null
};

// No event clock follows the ingest…
struct NoEventClock {};
// …or one is told the latest event time applied, after each commit
// (the "now" of --clock event).
struct FeedEventClock {
  EventClock* clock;  // not null
};

struct IngestMode {
  std::variant<CountRejects, DeadLetters> rejects;
  std::variant<PrivatePopulation, PublishedPopulation> population;
  std::variant<NoEventClock, FeedEventClock> event_clock;
};

}  // namespace crm
