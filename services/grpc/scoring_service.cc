#include "services/grpc/scoring_service.h"

#include <future>
#include <memory>
#include <string>

#include "services/codec/touchpoint_codec.h"
#include "services/grpc/alert_outcomes.h"
#include "services/grpc/alert_watch.h"
#include "services/grpc/at_risk_ranking.h"
#include "services/grpc/batch_fanout.h"
#include "services/grpc/grpc_status.h"
#include "services/grpc/offer_targets.h"
#include "services/grpc/scores_codec.h"

namespace crm {

grpc::ServerUnaryReactor* ScoringServiceImpl::GetCustomerScores(
    grpc::CallbackServerContext* context, const v1::GetCustomerScoresRequest* request,
    v1::CustomerScores* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Caller caller;
  if (grpc::Status admitted = admission_.Admit(*context, *request, &caller); !admitted.ok()) {
    reactor->Finish(admitted);
    return reactor;
  }
  Route route = router_.Locate(*parts_.store, request->customer_id(), caller.forwarded);
  if (route.kind == Route::Kind::kForward) {
    auto forward = std::make_shared<grpc::ClientContext>();
    peers_.Prepare(*context, caller, forward.get());
    peers_.Stub(route.owner)
        ->async()
        ->GetCustomerScores(
            forward.get(), request, response,
            [reactor, response, forward, owner = route.owner](const grpc::Status& status) {
              if (status.ok()) response->mutable_freshness()->set_forwarded(true);
              reactor->Finish(Prefixed(status, owner.instance));
            });
    return reactor;
  }
  reactor->Finish(ScoreHere(route, *request, response));
  return reactor;
}

std::optional<grpc::Status> ScoringServiceImpl::GetCustomerScoresHere(
    std::string_view authorization, const v1::GetCustomerScoresRequest& request,
    v1::CustomerScores* response) {
  Caller caller;
  if (grpc::Status admitted = admission_.AdmitBearer(authorization, request, &caller);
      !admitted.ok()) {
    return admitted;
  }
  const Route route = router_.Locate(*parts_.store, request.customer_id(), caller.forwarded);
  if (route.kind == Route::Kind::kForward) return std::nullopt;
  return BoundedStatus(ScoreHere(route, request, response));
}

grpc::Status ScoringServiceImpl::ScoreHere(const Route& route,
                                           const v1::GetCustomerScoresRequest& request,
                                           v1::CustomerScores* response) const {
  if (route.kind == Route::Kind::kAnswered) return ToGrpc(route.status);
  const Timestamp as_of = parts_.AsOf(request.has_as_of(), request.as_of());
  const std::shared_ptr<const PopulationView> population = parts_.population->Current();
  const Scores scores = parts_.scorer->Current()->Score(CustomerId(request.customer_id()),
                                                        *route.state, as_of, population.get());
  ToProto(scores, response);
  parts_.Stamp(route.partition, *population, response);
  parts_.Recommend(*route.state, scores, response);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* ScoringServiceImpl::BatchGetCustomerScores(
    grpc::CallbackServerContext* context, const v1::BatchGetCustomerScoresRequest* request,
    v1::BatchGetCustomerScoresResponse* response) {
  Caller caller;
  if (grpc::Status admitted = admission_.Admit(*context, *request, &caller); !admitted.ok()) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(admitted);
    return reactor;
  }
  return StartBatchGet(parts_, context, caller, request, response);
}

grpc::Status ScoringServiceImpl::ListAtRiskCustomers(grpc::ServerContext* context,
                                                     const v1::ListAtRiskCustomersRequest* request,
                                                     v1::ListAtRiskCustomersResponse* response) {
  Caller caller;
  if (grpc::Status admitted = admission_.Admit(*context, *request, &caller); !admitted.ok()) {
    return admitted;
  }
  return ListAtRisk(parts_, context, caller, *request, response);
}

grpc::Status ScoringServiceImpl::ListOfferTargets(grpc::ServerContext* context,
                                                  const v1::ListOfferTargetsRequest* request,
                                                  v1::ListOfferTargetsResponse* response) {
  Caller caller;
  if (grpc::Status admitted = admission_.Admit(*context, *request, &caller); !admitted.ok()) {
    return admitted;
  }
  return ListOffers(parts_, context, caller, *request, response);
}

grpc::Status ScoringServiceImpl::GetAlertOutcomes(grpc::ServerContext* context,
                                                  const v1::GetAlertOutcomesRequest* request,
                                                  v1::AlertOutcomes* response) {
  Caller caller;
  if (grpc::Status admitted = admission_.Admit(*context, *request, &caller); !admitted.ok()) {
    return admitted;
  }
  return GetOutcomes(parts_, context, caller, *request, response);
}

grpc::ServerWriteReactor<v1::ChurnAlert>* ScoringServiceImpl::WatchAlerts(
    grpc::CallbackServerContext* context, const v1::WatchAlertsRequest* request) {
  Caller caller;
  if (grpc::Status admitted = admission_.Admit(*context, *request, &caller); !admitted.ok()) {
    return RefuseAlertWatch(admitted);
  }
  if (options_.alerts == nullptr) {
    return RefuseAlertWatch({grpc::StatusCode::UNIMPLEMENTED, "alerts are not enabled"});
  }
  return StartAlertWatch(
      context, options_.alerts,
      [segment = request->segment().empty() ? std::nullopt : ParseSegment(request->segment()),
       min_churn = request->min_churn(), action = ParseRecommendedAction(request->action()),
       include_cleared = request->include_cleared()](const AlertEvent& alert) {
        // A clear is filtered on its own churn, segment and action (those
        // of the look that cleared it), like a raise.
        if (alert.outcome.transition == AlertTransition::kCleared && !include_cleared) {
          return false;
        }
        return (!segment || alert.segment == *segment) && alert.churn >= min_churn &&
               (!action || alert.action == *action);
      });
}

grpc::Status ScoringServiceImpl::GetCustomerState(grpc::ServerContext* context,
                                                  const v1::GetCustomerStateRequest* request,
                                                  v1::CustomerState* response) {
  Caller caller;
  if (grpc::Status admitted = admission_.Admit(*context, *request, &caller); !admitted.ok()) {
    return admitted;
  }
  Route route = router_.Locate(*parts_.store, request->customer_id(), caller.forwarded);
  if (route.kind == Route::Kind::kForward) {
    grpc::ClientContext forward;
    peers_.Prepare(*context, caller, &forward);
    return Prefixed(peers_.Stub(route.owner)->GetCustomerState(&forward, *request, response),
                    route.owner.instance);
  }
  if (route.kind == Route::Kind::kAnswered) return ToGrpc(route.status);
  const CustomerId id(request->customer_id());
  // Those up to the state's count of touchpoints applied (a commit between
  // the two reads may leave fewer: the ones it replaced).
  auto recent = parts_.store->RecentTouchpoints(route.state->partition, id,
                                                route.state->events_applied, kRecentTouchpoints);
  if (!recent.ok()) return ToGrpc(recent.status());
  ToProto(id, *route.state, response);
  for (const Touchpoint& touchpoint : *recent)
    ToProto(touchpoint, response->add_recent_touchpoints());
  return grpc::Status::OK;
}

grpc::Status ScoringServiceImpl::EraseCustomer(grpc::ServerContext* context,
                                               const v1::EraseCustomerRequest* request,
                                               v1::EraseCustomerResponse* response) {
  Caller caller;
  if (grpc::Status admitted = admission_.Admit(*context, *request, &caller); !admitted.ok()) {
    return admitted;
  }
  if (options_.erasures == nullptr) {
    return {grpc::StatusCode::UNIMPLEMENTED, "erasure is not enabled"};
  }
  // Routed like a lookup: the owner of the customer's partition erases them.
  Route route = router_.Locate(*parts_.store, request->customer_id(), caller.forwarded);
  if (route.kind == Route::Kind::kForward) {
    grpc::ClientContext forward;
    // The owner waits up to the erase timeout; a second more for the answer.
    peers_.Prepare(*context, caller, &forward, options_.erase_timeout + std::chrono::seconds(1));
    return Prefixed(peers_.Stub(route.owner)->EraseCustomer(&forward, *request, response),
                    route.owner.instance);
  }
  // Unknown here on a partition served here: the consumer thread says
  // whether there is anything to erase. Any other answer (UNAVAILABLE: no
  // owner now, or being restored) stands.
  if (route.kind == Route::Kind::kAnswered && !absl::IsNotFound(route.status)) {
    return ToGrpc(route.status);
  }
  std::future<absl::StatusOr<bool>> done = options_.erasures->Submit(
      {CustomerId(request->customer_id()), caller.name, wall_clock_->Now(), route.partition});
  if (done.wait_for(options_.erase_timeout) != std::future_status::ready) {
    return {grpc::StatusCode::UNAVAILABLE,
            "the erasure was not carried out in time (is ingestion running?); retrying is safe"};
  }
  absl::StatusOr<bool> erased = done.get();
  if (!erased.ok()) return ToGrpc(erased.status());
  response->set_erased(*erased);
  return grpc::Status::OK;
}

}  // namespace crm
