#pragma once

// crm.v1.ScoringService: the lookups and erasure here; the batch fan-out
// (batch_fanout.h), the at-risk ranking (at_risk_ranking.h), the routing
// (peer_router.h), the calls to the other instances (peer_channels.h) and
// the gate of every call (admission.h) in their own files. The server and
// its TLS are in grpc_server.h.

#include <utility>

#include "core/board.h"
#include "core/clock.h"
#include "core/population.h"
#include "core/scorer.h"
#include "core/state_store.h"
#include "crm/v1/scoring.grpc.pb.h"
#include "services/grpc/admission.h"
#include "services/grpc/grpc_server.h"
#include "services/grpc/peer_channels.h"
#include "services/grpc/peer_router.h"
#include "services/grpc/scoring_options.h"
#include "services/grpc/scoring_parts.h"

namespace crm {

// The lookups are served on gRPC's callback API, on gRPC's own threads, with
// no hand-over to the synchronous server's pool, whose threads come and go as
// the load moves (docs/benchmarks-history.md, third round); so is WatchAlerts, whose
// streams would otherwise hold a thread each; erasure and the rarer reads
// stay synchronous.
using ScoringServiceBase = v1::ScoringService::WithCallbackMethod_GetCustomerScores<
    v1::ScoringService::WithCallbackMethod_BatchGetCustomerScores<
        v1::ScoringService::WithCallbackMethod_WatchAlerts<v1::ScoringService::Service>>>;

// crm.v1.ScoringService on the committed state: a reader never sees part of a
// batch. Called concurrently from gRPC's threads; its only mutable state is
// the cache of channels to the other instances (PeerChannels).
class ScoringServiceImpl final : public ScoringServiceBase {
 public:
  // The pointers must outlive the service. Each call scores with the model and
  // the population current when it starts; `clock` is "now" of queries.
  ScoringServiceImpl(StateStore* store, const Board<Scorer>* scorer,
                     const PopulationBoard* population, const Clock* clock,
                     ScoringServiceOptions options = {})
      : options_(std::move(options)),
        wall_clock_(options_.wall_clock != nullptr ? options_.wall_clock : clock),
        router_({.ownership = options_.ownership,
                 .shared_states = options_.shared_states,
                 .cluster = options_.cluster,
                 .partition_of = options_.partition_of,
                 .policy = {.peers_verified = options_.peers_verified,
                            .insecure_peers = options_.insecure_peers}},
                *wall_clock_),
        peers_({.credentials = options_.peer_credentials,
                .peers_verified = options_.peers_verified,
                .cluster_token = options_.cluster_token,
                .forward_timeout = options_.forward_timeout,
                .cluster = options_.cluster},
               *wall_clock_),
        admission_(options_.authorizer),
        parts_{.store = store,
               .scorer = scorer,
               .population = population,
               .clock = clock,
               .wall_clock = wall_clock_,
               .options = &options_,
               .router = &router_,
               .peers = &peers_} {}

  grpc::ServerUnaryReactor* GetCustomerScores(grpc::CallbackServerContext* context,
                                              const v1::GetCustomerScoresRequest* request,
                                              v1::CustomerScores* response) override;
  // GetCustomerScores for this process's own edge (the HTTP API), with no
  // gRPC call: the same admission (its caller's only credential the
  // Authorization header's value `authorization`), validation and answer.
  // Nullopt when another instance owns the customer: the edge then calls
  // through gRPC, which forwards.
  std::optional<grpc::Status> GetCustomerScoresHere(std::string_view authorization,
                                                    const v1::GetCustomerScoresRequest& request,
                                                    v1::CustomerScores* response);

  grpc::ServerUnaryReactor* BatchGetCustomerScores(
      grpc::CallbackServerContext* context, const v1::BatchGetCustomerScoresRequest* request,
      v1::BatchGetCustomerScoresResponse* response) override;
  grpc::Status GetCustomerState(grpc::ServerContext* context,
                                const v1::GetCustomerStateRequest* request,
                                v1::CustomerState* response) override;
  // The top_n customers (1-1000; 0: 100) by churn as of now, highest first,
  // of one ABC segment or all, with their scores: read down the at-risk index
  // (each customer's churn at a recent look, which the time index keeps
  // within 1.5 × risk_precision of the current one) and re-scored, until no
  // customer left in the index could rank, or a bound of the options is
  // reached (the answer is then flagged `partial`). Prospects are never at
  // risk. In a cluster every other owner is asked at once, each within the
  // forward timeout; one not answering in time makes the call UNAVAILABLE.
  grpc::Status ListAtRiskCustomers(grpc::ServerContext* context,
                                   const v1::ListAtRiskCustomersRequest* request,
                                   v1::ListAtRiskCustomersResponse* response) override;
  // The top_n customers likeliest to buy a product now, highest appetence
  // first, with the same bounds and cluster merge as ListAtRiskCustomers
  // (services/grpc/offer_targets.h); NOT_FOUND for a product the model does
  // not score.
  grpc::Status ListOfferTargets(grpc::ServerContext* context,
                                const v1::ListOfferTargetsRequest* request,
                                v1::ListOfferTargetsResponse* response) override;
  grpc::Status GetAlertOutcomes(grpc::ServerContext* context,
                                const v1::GetAlertOutcomesRequest* request,
                                v1::AlertOutcomes* response) override;
  // Alerts as they are delivered to crm.alerts, from the moment of the call,
  // filtered by segment (empty: all), minimum churn and action (empty: all).
  // On the callback API (services/grpc/alert_watch.h): no thread per
  // stream, at most the hub's max_subscribers at once, each with a queue
  // bounded in bytes that a caller not reading cannot make block delivery.
  grpc::ServerWriteReactor<v1::ChurnAlert>* WatchAlerts(
      grpc::CallbackServerContext* context, const v1::WatchAlertsRequest* request) override;
  // Admin: forgets the customer (state, index entries, open and undelivered
  // alerts), recorded in the audit trail with the caller's name first;
  // erased = false when there was nothing to erase. Routed like a lookup:
  // carried out by the consumer thread of the instance that owns the
  // customer's partition (forwarded to it when that is another), UNAVAILABLE
  // when no instance owns it now or it is being restored, or when the owner
  // did not carry it out within the erase timeout (the request may still be
  // carried out: retrying is safe).
  grpc::Status EraseCustomer(grpc::ServerContext* context, const v1::EraseCustomerRequest* request,
                             v1::EraseCustomerResponse* response) override;

 private:
  // The scores of a customer `route` says are here (or the status it answers).
  grpc::Status ScoreHere(const Route& route, const v1::GetCustomerScoresRequest& request,
                         v1::CustomerScores* response) const;

  const ScoringServiceOptions options_;
  const Clock* const wall_clock_;
  const PeerRouter router_;
  const PeerChannels peers_;
  const Admission admission_;
  const ScoringParts parts_;
};

}  // namespace crm
