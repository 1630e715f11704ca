#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/board.h"
#include "core/clock.h"
#include "core/population.h"
#include "core/scorer.h"
#include "core/state_store.h"
#include "crm/v1/scoring.grpc.pb.h"
#include "services/grpc/alert_hub.h"

namespace grpc {
class Server;
}

namespace crm {

// crm.v1.ScoringService on the committed state: a reader never sees part of a
// batch. Called concurrently from gRPC's threads; holds no mutable state.
class ScoringServiceImpl final : public v1::ScoringService::Service {
 public:
  // The pointers must outlive the service. Each call scores with the model and
  // the population current when it starts.
  // `alerts` may be null: WatchAlerts is then UNIMPLEMENTED. `risk_precision`
  // is the alert policy's: how far the at-risk index may be from the truth.
  ScoringServiceImpl(StateStore* store, const Board<Scorer>* scorer,
                     const PopulationBoard* population, const Clock* clock,
                     AlertHub* alerts = nullptr, double risk_precision = 0.02)
      : store_(store),
        scorer_(scorer),
        population_(population),
        clock_(clock),
        alerts_(alerts),
        risk_precision_(risk_precision) {}

  grpc::Status GetCustomerScores(grpc::ServerContext* context,
                                 const v1::GetCustomerScoresRequest* request,
                                 v1::CustomerScores* response) override;
  grpc::Status BatchGetCustomerScores(grpc::ServerContext* context,
                                      const v1::BatchGetCustomerScoresRequest* request,
                                      v1::BatchGetCustomerScoresResponse* response) override;
  grpc::Status GetCustomerState(grpc::ServerContext* context,
                                const v1::GetCustomerStateRequest* request,
                                v1::CustomerState* response) override;
  // The top_n customers (1-1000; 0: 100) by churn as of now, highest first,
  // of one ABC segment or all, with their scores: read down the at-risk index
  // (each customer's churn at a recent look, which the time index keeps
  // within 1.5 × risk_precision of the current one) and re-scored, until no
  // customer left in the index could rank. Prospects are never at risk.
  grpc::Status ListAtRiskCustomers(grpc::ServerContext* context,
                                   const v1::ListAtRiskCustomersRequest* request,
                                   v1::ListAtRiskCustomersResponse* response) override;
  // Alerts as they are delivered to crm.alerts, from the moment of the call,
  // filtered by segment (empty: all), minimum churn and action (empty: all).
  grpc::Status WatchAlerts(grpc::ServerContext* context, const v1::WatchAlertsRequest* request,
                           grpc::ServerWriter<v1::ChurnAlert>* writer) override;

 private:
  StateStore* store_;
  const Board<Scorer>* scorer_;
  const PopulationBoard* population_;
  const Clock* clock_;
  AlertHub* alerts_;
  double risk_precision_;
};

// The gRPC server: the scoring service, the standard health service and
// server reflection.
class GrpcServer {
 public:
  // Listens on `listen` ("HOST:PORT"; port 0 picks one), without TLS.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const std::string& listen,
                                                           v1::ScoringService::Service* service);
  ~GrpcServer();

  int port() const { return port_; }
  // Marks the service NOT_SERVING in the health service (before shutdown).
  void SetServing(bool serving);
  // Stops accepting calls and waits for those in flight (at most `deadline_ms`).
  void Shutdown(int deadline_ms);

 private:
  GrpcServer() = default;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace crm
