#include "services/grpc/offer_targets.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/segment.h"
#include "core/uplift.h"
#include "services/grpc/cluster_ranking.h"
#include "services/grpc/scores_codec.h"

namespace crm {
namespace {

// Highest probability first, ties by customer id (as the index orders them).
bool RanksBefore(const v1::OfferTarget& a, const v1::OfferTarget& b) {
  return a.probability() != b.probability() ? a.probability() > b.probability()
                                            : a.customer_id() < b.customer_id();
}

// What one ranking keeps, from a validated request.
struct Filter {
  std::optional<Segment> segment;
  std::optional<Channel> channel;
  bool include_owners = false;

  explicit Filter(const v1::ListOfferTargetsRequest& request)
      : include_owners(request.include_owners()) {
    if (!request.segment().empty()) segment = ParseSegment(request.segment());
    if (request.channel() != v1::CHANNEL_UNSPECIFIED) {
      channel = static_cast<Channel>(request.channel());
    }
  }

  // Whether the customer may be a target, from their state alone.
  bool Admits(const CustomerState& state, std::string_view product) const {
    if (channel && state.channel(*channel).consent != true) return false;
    if (include_owners) return true;
    const auto stats = state.products.find(product);
    return stats == state.products.end() || !Owns(stats->second);
  }
};

// This instance's ranking, into `response`: read down the offer index a page
// at a time, each candidate re-scored, until no customer left in the index
// could rank or a bound is reached (flagged partial). With `served_only`,
// customers of partitions not served per `ownership` are left to their
// owner. The partitions served per `ownership` are named.
grpc::Status RankLocally(const ScoringParts& parts, grpc::ServerContext* context,
                         const v1::ListOfferTargetsRequest& request,
                         const PartitionOwnership::Snapshot* ownership, bool served_only,
                         v1::ListOfferTargetsResponse* response) {
  constexpr std::size_t kPage = 256;
  const std::string& product = request.product();
  const std::size_t top = request.top_n();
  const Timestamp now = parts.clock->Now();
  const std::shared_ptr<const Scorer> scorer = parts.scorer->Current();
  const std::shared_ptr<const PopulationView> population = parts.population->Current();
  // A customer's appetence now is taken to be within this of their indexed
  // one (half the precision at their look, and what time moved it since).
  const double slack = 1.5 * parts.options->alert_policy.risk_precision;
  const Filter filter(request);
  const RankBounds bounds(parts, *context);
  std::vector<v1::OfferTarget> best;  // the best so far, in rank order
  std::size_t scored = 0;
  std::optional<OfferEntry> after;
  for (bool more = true; more;) {
    if (context->IsCancelled()) return {grpc::StatusCode::CANCELLED, "cancelled"};
    auto page = parts.store->LikeliestBuyers(product, after, kPage);
    if (!page.ok()) return ToGrpc(page.status());
    more = page->size() == kPage;
    for (const OfferEntry& entry : *page) {
      if (std::optional<std::string> reached = bounds.Reached(scored)) {
        response->set_partial(true);
        response->set_partial_reason(*std::move(reached));
        more = false;
        break;
      }
      // Nobody below this entry can rank.
      if (best.size() == top && entry.probability + slack < best.back().probability()) {
        more = false;
        break;
      }
      if (served_only && ownership != nullptr && !ownership->Serves(entry.partition)) continue;
      auto state = parts.store->Get(entry.partition, entry.customer);
      if (!state.ok()) return ToGrpc(state.status());
      if (!*state || !filter.Admits(**state, product)) continue;  // erased since, or filtered
      const Scores scores = scorer->Score(entry.customer, **state, now, population.get());
      ++scored;
      if (filter.segment && scores.segment != *filter.segment) continue;
      v1::OfferTarget target;
      ToProto(scores, product, &target);
      if (!request.campaign_id().empty()) {
        target.set_control(InControlGroup(OfferTargetId(request.campaign_id(), entry.customer),
                                          parts.options->alert_policy.marketing.control_share));
      }
      best.insert(std::upper_bound(best.begin(), best.end(), target, RanksBefore),
                  std::move(target));
      if (best.size() > top) best.pop_back();
    }
    if (!page->empty()) after = page->back();
  }
  for (v1::OfferTarget& target : best) *response->add_targets() = std::move(target);
  NameLocalAnswer(parts, ownership, response);
  return grpc::Status::OK;
}

}  // namespace

std::string OfferTargetId(std::string_view campaign_id, const CustomerId& customer) {
  return std::string(campaign_id) + "/" + customer.value();
}

grpc::Status ListOffers(const ScoringParts& parts, grpc::ServerContext* context,
                        const Caller& caller, const v1::ListOfferTargetsRequest& request,
                        v1::ListOfferTargetsResponse* response) {
  const std::shared_ptr<const Scorer> scorer = parts.scorer->Current();
  const auto& offers = scorer->model().appetence;
  if (std::none_of(offers.begin(), offers.end(), [&](const AppetenceModel& offer) {
        return offer.product == request.product();
      })) {
    return {grpc::StatusCode::NOT_FOUND, "product " + Quoted(request.product()) +
                                             " is not scored by model " +
                                             Quoted(scorer->model().version)};
  }
  using Response = v1::ListOfferTargetsResponse;
  RankingCall<v1::ListOfferTargetsRequest, Response> call;
  call.local = [&](const PartitionOwnership::Snapshot* owned, bool served_only, Response* out) {
    return RankLocally(parts, context, request, owned, served_only, out);
  };
  call.ask = [](v1::ScoringService::Stub& stub, grpc::ClientContext* ask,
                const v1::ListOfferTargetsRequest* sent, Response* answer,
                std::function<void(grpc::Status)> done) {
    stub.async()->ListOfferTargets(ask, sent, answer, std::move(done));
  };
  call.take = [](Response& answer, Response* out) {
    for (v1::OfferTarget& target : *answer.mutable_targets()) {
      *out->add_targets() = std::move(target);
    }
  };
  call.order = [&](Response* out) {
    auto& targets = *out->mutable_targets();
    std::sort(targets.begin(), targets.end(), RanksBefore);
    while (targets.size() > static_cast<int>(request.top_n())) targets.RemoveLast();
  };
  return RankInCluster(parts, context, caller, request, call, response);
}

}  // namespace crm
