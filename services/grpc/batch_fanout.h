#pragma once

// BatchGetCustomerScores: each customer routed as a single lookup is; those
// served here scored at once, the others sent in one call per owner, all in
// flight together; the answer put back in request order once the last is in.

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include "crm/v1/scoring.pb.h"
#include "services/grpc/admission.h"
#include "services/grpc/scoring_parts.h"

namespace crm {

// Starts the batch on gRPC's callback API and returns its reactor, finished
// once every share is in: OK with each customer's scores (in request order)
// or in not_found; else the first error of a share (the batch stops at a
// customer who can be answered neither here nor by an owner). Never blocks.
// REQUIRES: `caller` was admitted for `request`; `request` and `response`
// live until the reactor finishes (gRPC's guarantee for a call's messages).
grpc::ServerUnaryReactor* StartBatchGet(const ScoringParts& parts,
                                        grpc::CallbackServerContext* context, const Caller& caller,
                                        const v1::BatchGetCustomerScoresRequest* request,
                                        v1::BatchGetCustomerScoresResponse* response);

}  // namespace crm
