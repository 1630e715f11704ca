#pragma once

// ListOfferTargets: who to offer a product. This instance's ranking, read
// down the product's offer index (StateStore::LikeliestBuyers) and
// re-scored; in a cluster, merged with every other owner's, each partition
// ranked exactly once (RankInCluster, as ListAtRiskCustomers).

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <string>
#include <string_view>

#include "core/customer_id.h"
#include "crm/v1/scoring.pb.h"
#include "services/grpc/admission.h"
#include "services/grpc/scoring_parts.h"

namespace crm {

// What an offer campaign's control group is drawn from, as an alert's is
// from its id (InControlGroup): the campaign code and the customer id.
std::string OfferTargetId(std::string_view campaign_id, const CustomerId& customer);

// The top_n customers by their appetence for `request.product` as of now,
// highest first (ties by customer id), of one ABC segment or all, only those
// whose consent to `request.channel` is in force when one is given, owners
// of the product left out unless `include_owners`. REQUIRES: `request`
// passed Validate. NOT_FOUND when the current model does not score the
// product. The index holds each customer's appetence at their latest look
// (a touchpoint, or a look due): a customer whose appetence rose by time
// alone since then by more than the risk precision may rank late or be
// missed until their next look. Bounded as ListAtRiskCustomers (`partial`).
// With a campaign_id, each target says whether the campaign holds it out
// (InControlGroup of OfferTargetId, at --control-share).
grpc::Status ListOffers(const ScoringParts& parts, grpc::ServerContext* context,
                        const Caller& caller, const v1::ListOfferTargetsRequest& request,
                        v1::ListOfferTargetsResponse* response);

}  // namespace crm
