#include "services/grpc/at_risk_ranking.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "services/grpc/cluster_ranking.h"
#include "services/grpc/grpc_status.h"
#include "services/grpc/requests.h"
#include "services/grpc/scores_codec.h"

namespace crm {
namespace {

constexpr std::uint32_t kDefaultTop = 100;

// Scores and the partition of the customer they are of.
// A customer ranked: their scores, partition, and the channel recommended
// for them (which needs their state, not kept).
struct Ranked {
  Scores scores;
  std::int32_t partition = 0;
  Channel channel = Channel::kUnspecified;
};

// What one ranking keeps and how it orders it, from a validated request.
struct Ranking {
  bool by_value = false;  // by value at risk, among the customers at risk; else by churn
  bool include_lost = false;
  std::optional<Segment> segment;
  std::optional<ValueQuadrant> quadrant;
  std::optional<RecommendedAction> action;
  // By value: the lowest churn at which a customer is at risk (the lowest
  // raise threshold of the alert policy).
  double at_risk_from = 0;

  explicit Ranking(const v1::ListAtRiskCustomersRequest& request, const AlertPolicy& policy)
      : by_value(request.order_by() == v1::AT_RISK_ORDER_VALUE_AT_RISK),
        include_lost(request.include_lost()),
        at_risk_from(policy.defaults.raise) {
    if (!request.segment().empty()) segment = ParseSegment(request.segment());
    if (!request.value_quadrant().empty()) quadrant = ParseValueQuadrant(request.value_quadrant());
    if (!request.action().empty()) action = ParseRecommendedAction(request.action());
    for (const auto& [s, thresholds] : policy.by_segment) {
      at_risk_from = std::min(at_risk_from, thresholds.raise);
    }
  }

  double KeyOf(double churn, double value_at_risk) const {
    return by_value ? value_at_risk : churn;
  }
  double KeyOf(const Scores& s) const { return KeyOf(*s.churn, s.value_at_risk); }

  // Highest key first, ties by id (as the index orders them).
  bool RanksBefore(const Ranked& a, const Ranked& b) const {
    const double ka = KeyOf(a.scores), kb = KeyOf(b.scores);
    return ka != kb ? ka > kb : a.scores.customer_id < b.scores.customer_id;
  }

  // Whether `scores` belong in the ranking.
  bool Keeps(const Scores& scores, const AlertPolicy& policy) const {
    if (!scores.churn) return false;  // a prospect: never at risk
    if (scores.lifecycle_stage == LifecycleStage::kLost && !include_lost) return false;
    if (segment && scores.segment != *segment) return false;
    if (quadrant && scores.quadrant != *quadrant) return false;
    const AlertThresholds& thresholds = policy.For(scores.segment);
    if (by_value && *scores.churn < thresholds.raise) return false;
    return !action || RecommendAction(scores.quadrant, scores.lifecycle_stage, *scores.churn,
                                      thresholds) == *action;
  }

  // Whether no customer of the index from `entry` on can rank, given the
  // last of the best (a customer's current churn is within the precision of
  // their last look's, which is within half of it of their indexed churn).
  bool Exhausted(const RiskEntry& entry, const Scores& last, double precision) const {
    const double churn_bound = entry.churn + 1.5 * precision;
    return by_value ? churn_bound < at_risk_from : churn_bound < *last.churn;
  }
};

// This instance's ranking, into `response`: read down the at-risk index a
// page at a time, each candidate re-scored, until no customer left in the
// index could rank or a bound is reached (flagged partial). With
// `served_only`, customers of partitions not served per `ownership` are
// left to their owner. The partitions served per `ownership` are named.
grpc::Status RankLocally(const ScoringParts& parts, grpc::ServerContext* context,
                         const v1::ListAtRiskCustomersRequest& request,
                         const PartitionOwnership::Snapshot* ownership, bool served_only,
                         v1::ListAtRiskCustomersResponse* response) {
  constexpr std::size_t kPage = 256;
  const std::size_t top = request.top_n() == 0 ? kDefaultTop : request.top_n();
  const Timestamp now = parts.clock->Now();
  const std::shared_ptr<const Scorer> scorer = parts.scorer->Current();
  const std::shared_ptr<const PopulationView> population = parts.population->Current();
  std::vector<Ranked> best;  // the best so far, in rank order
  const RankBounds bounds(parts, *context);
  std::size_t scored = 0;
  const AlertPolicy& policy = parts.options->alert_policy;
  const Ranking ranking(request, policy);  // validated
  const auto ranks_before = [&](const Ranked& a, const Ranked& b) {
    return ranking.RanksBefore(a, b);
  };
  std::optional<RiskEntry> after;
  for (bool more = true; more;) {
    if (context->IsCancelled()) return {grpc::StatusCode::CANCELLED, "cancelled"};
    auto page = parts.store->Riskiest(after, kPage);
    if (!page.ok()) return ToGrpc(page.status());
    more = page->size() == kPage;
    for (const RiskEntry& entry : *page) {
      if (std::optional<std::string> reached = bounds.Reached(scored)) {
        response->set_partial(true);
        response->set_partial_reason(*std::move(reached));
        more = false;
        break;
      }
      // Nobody below this entry can rank.
      if ((best.size() == top || ranking.by_value) &&
          ranking.Exhausted(entry, best.empty() ? Scores{} : best.back().scores,
                            policy.risk_precision)) {
        more = false;
        break;
      }
      // Another owner's now: it ranks them.
      if (served_only && ownership != nullptr && !ownership->Serves(entry.partition)) continue;
      auto state = parts.store->Get(entry.partition, entry.customer);
      if (!state.ok()) return ToGrpc(state.status());
      if (!*state) continue;  // erased since
      Scores scores = scorer->Score(entry.customer, **state, now, population.get());
      ++scored;
      if (!ranking.Keeps(scores, policy)) continue;
      const Channel channel = RecommendedChannel(**state, scores.value_at_risk, policy);
      Ranked ranked{std::move(scores), entry.partition, channel};
      best.insert(std::upper_bound(best.begin(), best.end(), ranked, ranks_before),
                  std::move(ranked));
      if (best.size() > top) best.pop_back();
    }
    if (!page->empty()) after = page->back();
  }
  for (const Ranked& ranked : best) {
    v1::CustomerScores* out = response->add_customers();
    ToProto(ranked.scores, out);
    parts.Stamp(ranked.partition, *population, out);
    parts.Recommend(ranked.scores, ranked.channel, out);
  }
  NameLocalAnswer(parts, ownership, response);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status ListAtRisk(const ScoringParts& parts, grpc::ServerContext* context,
                        const Caller& caller, const v1::ListAtRiskCustomersRequest& request,
                        v1::ListAtRiskCustomersResponse* response) {
  using Response = v1::ListAtRiskCustomersResponse;
  RankingCall<v1::ListAtRiskCustomersRequest, Response> call;
  call.local = [&](const PartitionOwnership::Snapshot* owned, bool served_only, Response* out) {
    return RankLocally(parts, context, request, owned, served_only, out);
  };
  call.ask = [](v1::ScoringService::Stub& stub, grpc::ClientContext* ask,
                const v1::ListAtRiskCustomersRequest* sent, Response* answer,
                std::function<void(grpc::Status)> done) {
    stub.async()->ListAtRiskCustomers(ask, sent, answer, std::move(done));
  };
  call.take = [](Response& answer, Response* out) {
    for (v1::CustomerScores& scores : *answer.mutable_customers()) {
      scores.mutable_freshness()->set_forwarded(true);
      *out->add_customers() = std::move(scores);
    }
  };
  call.order = [&](Response* out) {
    auto& customers = *out->mutable_customers();
    const Ranking ranking(request, parts.options->alert_policy);
    std::sort(customers.begin(), customers.end(),
              [&](const v1::CustomerScores& a, const v1::CustomerScores& b) {
                const double ka = ranking.KeyOf(a.churn(), a.value_at_risk());
                const double kb = ranking.KeyOf(b.churn(), b.value_at_risk());
                return ka != kb ? ka > kb : a.customer_id() < b.customer_id();
              });
    const int top = static_cast<int>(request.top_n() == 0 ? kDefaultTop : request.top_n());
    while (customers.size() > top) customers.RemoveLast();
  };
  return RankInCluster(parts, context, caller, request, call, response);
}

}  // namespace crm
