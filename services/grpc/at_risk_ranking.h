#pragma once

// ListAtRiskCustomers: this instance's ranking, read down the at-risk index
// and re-scored; in a cluster, merged with every other owner's, each
// partition ranked exactly once.

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "crm/v1/scoring.pb.h"
#include "services/grpc/admission.h"
#include "services/grpc/scoring_parts.h"

namespace crm {

// The top_n customers (1-1000; 0: 100) by churn as of now, highest first, of
// one ABC segment or all (see ScoringServiceImpl::ListAtRiskCustomers). Asked
// by another instance (`caller.forwarded`): this instance's served
// partitions only, which the answer names. Alone or before any assignment:
// this instance's ranking, UNAVAILABLE unless it covers every partition. In
// a cluster: every other owner asked at once (RankOnPeers), the answers
// merged; UNAVAILABLE when a partition is ranked by no one or by two.
// Blocks the calling thread until the last peer answers (by its deadline).
grpc::Status ListAtRisk(const ScoringParts& parts, grpc::ServerContext* context,
                        const Caller& caller, const v1::ListAtRiskCustomersRequest& request,
                        v1::ListAtRiskCustomersResponse* response);

}  // namespace crm
