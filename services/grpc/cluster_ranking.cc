#include "services/grpc/cluster_ranking.h"

namespace crm {

RankBounds::RankBounds(const ScoringParts& parts, const grpc::ServerContext& context)
    : parts_(parts), budget_(parts.options->rank_budget) {
  const auto remaining = context.deadline() - parts.peers->Deadline(std::chrono::milliseconds(0));
  if (remaining < budget_ * 5 / 4) {
    budget_ = std::chrono::duration_cast<std::chrono::milliseconds>(remaining) * 4 / 5;
  }
  until_ = parts.wall_clock->Now() + budget_;
}

std::optional<std::string> RankBounds::Reached(std::size_t scored) const {
  if (scored >= parts_.options->rank_max_candidates) {
    return "stopped after " + std::to_string(scored) + " candidates scored";
  }
  if (parts_.wall_clock->Now() >= until_) {
    return "stopped after " + std::to_string(budget_.count()) + " ms (" + std::to_string(scored) +
           " candidates scored)";
  }
  return std::nullopt;
}

namespace cluster_ranking {

grpc::Status CheckCovered(std::int32_t count, const std::set<std::int32_t>& covered) {
  std::string missing;
  for (std::int32_t p = 0; p < count; ++p) {
    if (!covered.contains(p)) missing += (missing.empty() ? "" : ", ") + std::to_string(p);
  }
  if (count != 0 && missing.empty()) return grpc::Status::OK;
  return ToGrpc(absl::UnavailableError(
      count == 0 ? std::string("no partition assigned yet; retry shortly")
                 : "no instance ranks partitions " + missing +
                       " now (being restored, or a rebalance is under way); retry shortly"));
}

}  // namespace cluster_ranking
}  // namespace crm
