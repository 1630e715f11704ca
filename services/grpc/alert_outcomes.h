#pragma once

// GetAlertOutcomes: did the win-back work. The follow-ups of the alerts
// raised in a period (StateStore::ForEachFollowUp: the outcome index, not
// every customer) summed into the treated and control groups, all weeks and
// each week of raising, and the uplift of the treated over the control with
// its 95 % interval (EstimateUplift: Newcombe's hybrid score method). In a
// cluster, every owner's sums are merged, each partition summed exactly
// once (RankInCluster, as ListAtRiskCustomers).

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "core/follow_up.h"
#include "crm/v1/scoring.pb.h"
#include "services/grpc/admission.h"
#include "services/grpc/scoring_parts.h"

namespace crm {

// REQUIRES: `request` passed Validate.
grpc::Status GetOutcomes(const ScoringParts& parts, grpc::ServerContext* context,
                         const Caller& caller, const v1::GetAlertOutcomesRequest& request,
                         v1::AlertOutcomes* response);

// `report` in `out` (its groups, weeks, uplifts and incremental revenue;
// partitions and instances untouched), and back.
void ToProto(const OutcomeReport& report, v1::AlertOutcomes* out);
OutcomeReport ReportOf(const v1::AlertOutcomes& outcomes);

}  // namespace crm
