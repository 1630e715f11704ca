#include "services/grpc/at_risk_ranking.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
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

// How long this call's ranking may take: the budget of the options, or four
// fifths of what remains before the caller's deadline when that is nearer
// (a fifth left to answer).
std::chrono::milliseconds Budget(const ScoringParts& parts, const grpc::ServerContext& context) {
  const auto remaining = context.deadline() - parts.peers->Deadline(std::chrono::milliseconds(0));
  const std::chrono::milliseconds budget = parts.options->rank_budget;
  return remaining < budget * 5 / 4
             ? std::chrono::duration_cast<std::chrono::milliseconds>(remaining) * 4 / 5
             : budget;
}

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
  const std::size_t max_candidates = parts.options->rank_max_candidates;
  std::vector<Ranked> best;  // the best so far, in rank order
  const std::chrono::milliseconds budget = Budget(parts, *context);
  const Timestamp until = parts.wall_clock->Now() + budget;
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
      if (scored >= max_candidates || parts.wall_clock->Now() >= until) {
        response->set_partial(true);
        response->set_partial_reason(
            scored >= max_candidates
                ? "stopped after " + std::to_string(scored) + " candidates scored"
                : "stopped after " + std::to_string(budget.count()) + " ms (" +
                      std::to_string(scored) + " candidates scored)");
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
  if (ownership != nullptr) {
    for (std::int32_t p = 0; p < ownership->count; ++p) {
      if (ownership->Serves(p)) response->add_partitions(p);
    }
  }
  if (parts.options->cluster != nullptr) response->add_instances(parts.options->cluster->self());
  return grpc::Status::OK;
}

// One other owner's ranking, asked.
struct Ask {
  ClusterMember member;
  grpc::ClientContext context;
  v1::ListAtRiskCustomersResponse answer;
  grpc::Status status;
};

// Merges `ask`'s answer into `response` (`covered` grows by its partitions):
// UNAVAILABLE when it failed, or ranked a partition already covered.
grpc::Status Merge(Ask& ask, std::set<std::int32_t>* covered,
                   v1::ListAtRiskCustomersResponse* response) {
  if (!ask.status.ok()) return Prefixed(ask.status, ask.member.instance);
  for (std::int32_t p : ask.answer.partitions()) {
    if (!covered->insert(p).second) {
      return {grpc::StatusCode::UNAVAILABLE,
              "partition " + std::to_string(p) +
                  " is ranked by two instances: a rebalance is under way; retry shortly"};
    }
  }
  for (v1::CustomerScores& scores : *ask.answer.mutable_customers()) {
    scores.mutable_freshness()->set_forwarded(true);
    *response->add_customers() = std::move(scores);
  }
  if (ask.answer.partial() && !response->partial()) {
    response->set_partial(true);
    response->set_partial_reason("ranking of " + Quoted(ask.member.instance) + ": " +
                                 Quoted(ask.answer.partial_reason(), kMaxStatusMessageBytes / 4));
  }
  response->add_instances(ask.member.instance);
  return grpc::Status::OK;
}

// The rankings of the other owners of partitions not in `covered`, asked at
// once, each with the forward deadline; merged into `response` once the last
// is in (`covered` grows by their partitions).
grpc::Status RankOnPeers(const ScoringParts& parts, grpc::ServerContext* context,
                         const Caller& caller, const v1::ListAtRiskCustomersRequest& request,
                         std::set<std::int32_t>* covered,
                         v1::ListAtRiskCustomersResponse* response) {
  std::vector<std::unique_ptr<Ask>> asks;
  const std::optional<ClusterSnapshot> cluster = parts.router->Cluster();
  for (const ClusterMember& member : cluster->members) {
    if (member.instance == cluster->self || member.partitions.empty()) continue;
    bool needed = false;
    for (std::int32_t p : member.partitions) needed = needed || !covered->contains(p);
    if (!needed) continue;
    if (!parts.router->policy().Verified(member)) {
      return ToGrpc(parts.router->policy().Unverified(member));
    }
    asks.push_back(std::make_unique<Ask>());
    asks.back()->member = member;
  }
  absl::BlockingCounter left(static_cast<int>(asks.size()));
  for (const std::unique_ptr<Ask>& ask : asks) {
    parts.peers->Prepare(*context, caller, &ask->context);
    Ask* in_flight = ask.get();
    parts.peers->Stub(ask->member)
        ->async()
        ->ListAtRiskCustomers(&ask->context, &request, &ask->answer,
                              [in_flight, &left](grpc::Status status) {
                                in_flight->status = std::move(status);
                                left.DecrementCount();
                              });
  }
  left.Wait();  // every call ends by its deadline (the forward timeout at most)
  for (const std::unique_ptr<Ask>& ask : asks) {
    if (grpc::Status merged = Merge(*ask, covered, response); !merged.ok()) return merged;
  }
  return grpc::Status::OK;
}

}  // namespace

grpc::Status ListAtRisk(const ScoringParts& parts, grpc::ServerContext* context,
                        const Caller& caller, const v1::ListAtRiskCustomersRequest& request,
                        v1::ListAtRiskCustomersResponse* response) {
  // One view of the ownership for the whole ranking: the partitions it
  // filters by are the ones it names.
  const std::optional<PartitionOwnership::Snapshot> ownership = parts.router->Ownership();
  const PartitionOwnership::Snapshot* owned = ownership ? &*ownership : nullptr;
  // Asked by another instance: this one's partitions only, which it names.
  if (caller.forwarded) return RankLocally(parts, context, request, owned, true, response);
  // Alone, or before any assignment (every local state taken as this
  // instance's own): this instance's ranking, if it covers everything.
  if (parts.options->cluster == nullptr || owned == nullptr || !owned->owned) {
    if (owned != nullptr) {
      if (absl::Status answer = owned->CheckAll(); !answer.ok()) return ToGrpc(answer);
    }
    return RankLocally(parts, context, request, owned, false, response);
  }
  // Every owner's ranking, merged: each partition ranked exactly once.
  if (grpc::Status local = RankLocally(parts, context, request, owned, true, response);
      !local.ok()) {
    return local;
  }
  const std::int32_t count = owned->count;
  std::set<std::int32_t> covered(response->partitions().begin(), response->partitions().end());
  if (grpc::Status peers = RankOnPeers(parts, context, caller, request, &covered, response);
      !peers.ok()) {
    return peers;
  }
  std::string missing;
  for (std::int32_t p = 0; p < count; ++p) {
    if (!covered.contains(p)) missing += (missing.empty() ? "" : ", ") + std::to_string(p);
  }
  if (count == 0 || !missing.empty()) {
    return ToGrpc(absl::UnavailableError(
        count == 0 ? std::string("no partition assigned yet; retry shortly")
                   : "no instance ranks partitions " + missing +
                         " now (being restored, or a rebalance is under way); retry shortly"));
  }
  auto& customers = *response->mutable_customers();
  const Ranking ranking(request, parts.options->alert_policy);
  std::sort(customers.begin(), customers.end(),
            [&](const v1::CustomerScores& a, const v1::CustomerScores& b) {
              const double ka = ranking.KeyOf(a.churn(), a.value_at_risk());
              const double kb = ranking.KeyOf(b.churn(), b.value_at_risk());
              return ka != kb ? ka > kb : a.customer_id() < b.customer_id();
            });
  const int top = static_cast<int>(request.top_n() == 0 ? kDefaultTop : request.top_n());
  while (customers.size() > top) customers.RemoveLast();
  response->clear_partitions();
  for (std::int32_t p = 0; p < count; ++p) response->add_partitions(p);
  return grpc::Status::OK;
}

}  // namespace crm
