#pragma once

// What the parts of the scoring service share: the lookups
// (scoring_service.cc), the batch fan-out (batch_fanout.h) and the at-risk
// ranking (at_risk_ranking.h) read the same state, scorer and population,
// route by the same router and call the same peers.

#include <google/protobuf/timestamp.pb.h>

#include <cstdint>

#include "core/board.h"
#include "core/clock.h"
#include "core/population.h"
#include "core/scorer.h"
#include "core/state_store.h"
#include "crm/v1/scoring.pb.h"
#include "services/grpc/peer_channels.h"
#include "services/grpc/peer_router.h"
#include "services/grpc/scoring_options.h"

namespace crm {

// Read-only once built; every pointer outlives the parts. Thread-safe.
struct ScoringParts {
  StateStore* store = nullptr;
  const Board<Scorer>* scorer = nullptr;
  const PopulationBoard* population = nullptr;
  const Clock* clock = nullptr;       // "now" of queries
  const Clock* wall_clock = nullptr;  // "now" of deadlines, erasures and cluster records
  const ScoringServiceOptions* options = nullptr;
  const PeerRouter* router = nullptr;
  const PeerChannels* peers = nullptr;

  // Fills `scores`' freshness: who answered, the customer's partition and
  // how current its state is, the population's partitions.
  void Stamp(std::int32_t partition, const PopulationView& population,
             v1::CustomerScores* scores) const;
  // The action and channel recommended now, as an alert raised now would
  // carry them (RecommendAction under the thresholds of the customer's
  // segment, RecommendedChannel): `scores`' own, with `state` theirs. Left
  // unset for a prospect (no churn). The second form takes the channel
  // already chosen.
  void Recommend(const CustomerState& state, const Scores& scores, v1::CustomerScores* out) const;
  void Recommend(const Scores& scores, Channel channel, v1::CustomerScores* out) const;
  // The time a query is about: `as_of` when given, else the query clock's now.
  // REQUIRES: `as_of` passed ValidateAsOf (its conversion cannot overflow).
  Timestamp AsOf(bool has_as_of, const google::protobuf::Timestamp& as_of) const;
};

}  // namespace crm
