#include "services/grpc/scoring_parts.h"

#include "core/alerts.h"
#include "services/codec/touchpoint_codec.h"

namespace crm {

void ScoringParts::Stamp(std::int32_t partition, const PopulationView& population_view,
                         v1::CustomerScores* scores) const {
  v1::Freshness* freshness = scores->mutable_freshness();
  if (options->cluster != nullptr) freshness->set_served_by(options->cluster->self());
  freshness->set_partition(partition);
  freshness->set_population_partitions(population_view.partitions());
  if (options->ownership == nullptr) {
    freshness->set_lag(-1);
    return;
  }
  const PartitionOwnership::Progress progress = options->ownership->ProgressOf(partition);
  freshness->set_lag(progress.lag);
  if (progress.committed_at) {
    const std::int64_t us = ToMicros(*progress.committed_at);
    freshness->mutable_updated_at()->set_seconds(us / 1'000'000);
    freshness->mutable_updated_at()->set_nanos(static_cast<std::int32_t>(us % 1'000'000) * 1000);
  }
  freshness->set_partition_count(options->ownership->PartitionCount());
}

void ScoringParts::Recommend(const CustomerState& state, const Scores& scores,
                             v1::CustomerScores* out) const {
  Recommend(scores, RecommendedChannel(state, scores.value_at_risk, options->alert_policy), out);
}

void ScoringParts::Recommend(const Scores& scores, Channel channel, v1::CustomerScores* out) const {
  if (!scores.churn) return;
  const RecommendedAction action =
      RecommendAction(scores.quadrant, scores.lifecycle_stage, *scores.churn,
                      options->alert_policy.For(scores.segment));
  out->set_recommended_action(std::string(RecommendedActionName(action)));
  out->set_recommended_channel(static_cast<v1::Channel>(channel));
}

Timestamp ScoringParts::AsOf(bool has_as_of, const google::protobuf::Timestamp& as_of) const {
  return has_as_of ? FromProtoTime(as_of) : clock->Now();
}

}  // namespace crm
