#include "services/grpc/scoring_service.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <future>
#include <sstream>

#include "services/codec/alert_codec.h"
#include "services/codec/touchpoint_codec.h"
#include "services/grpc/scores_codec.h"

namespace crm {
namespace {

constexpr std::size_t kMaxBatchIds = 1000;

grpc::Status ToGrpc(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return grpc::Status::OK;
    case absl::StatusCode::kUnavailable:
      return {grpc::StatusCode::UNAVAILABLE, std::string(status.message())};
    case absl::StatusCode::kDataLoss:
      return {grpc::StatusCode::DATA_LOSS, std::string(status.message())};
    default:
      return {grpc::StatusCode::INTERNAL, std::string(status.message())};
  }
}

// gRPC deadlines are system_clock time points; "now" comes from the one clock file.
std::chrono::system_clock::time_point SystemDeadline(int from_now_ms) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          (WallClock().Now() + std::chrono::milliseconds(from_now_ms)).time_since_epoch()));
}

Timestamp AsOf(const Clock& clock, bool has_as_of, const google::protobuf::Timestamp& as_of) {
  return has_as_of ? FromProtoTime(as_of) : clock.Now();
}

// Loads one customer's committed state for a request naming `raw_id`:
// INVALID_ARGUMENT for an empty id, NOT_FOUND for an unknown customer.
// UNAVAILABLE while its partition (or, when unknown, any) is being restored.
grpc::Status LoadCustomer(StateStore& store, const RestoringPartitions* restoring,
                          const std::string& raw_id, CustomerState* state) {
  if (raw_id.empty()) return {grpc::StatusCode::INVALID_ARGUMENT, "customer_id is empty"};
  const CustomerId id(raw_id);
  auto stored = store.Find(id);
  if (!stored.ok()) return ToGrpc(stored.status());
  if (restoring != nullptr) {
    if (absl::Status answer = restoring->CheckAnswer(id, *stored); !answer.ok()) {
      return ToGrpc(answer);
    }
  }
  if (!*stored) return {grpc::StatusCode::NOT_FOUND, "unknown customer " + raw_id};
  *state = std::move(**stored);
  return grpc::Status::OK;
}

}  // namespace

grpc::ServerUnaryReactor* ScoringServiceImpl::GetCustomerScores(
    grpc::CallbackServerContext* context, const v1::GetCustomerScoresRequest* request,
    v1::CustomerScores* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(GetScores(*context, *request, response));
  return reactor;
}

grpc::ServerUnaryReactor* ScoringServiceImpl::BatchGetCustomerScores(
    grpc::CallbackServerContext* context, const v1::BatchGetCustomerScoresRequest* request,
    v1::BatchGetCustomerScoresResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(BatchGetScores(*context, *request, response));
  return reactor;
}

grpc::Status ScoringServiceImpl::GetScores(const grpc::ServerContextBase& context,
                                           const v1::GetCustomerScoresRequest& request,
                                           v1::CustomerScores* response) const {
  std::string who;
  if (grpc::Status allowed = Authorize(context, /*admin=*/false, &who); !allowed.ok()) {
    return allowed;
  }
  CustomerState state;
  if (grpc::Status status =
          LoadCustomer(*store_, options_.restoring, request.customer_id(), &state);
      !status.ok()) {
    return status;
  }
  const Timestamp as_of = AsOf(*clock_, request.has_as_of(), request.as_of());
  ToProto(scorer_->Current()->Score(CustomerId(request.customer_id()), state, as_of,
                                    population_->Current().get()),
          response);
  return grpc::Status::OK;
}

grpc::Status ScoringServiceImpl::BatchGetScores(
    const grpc::ServerContextBase& context, const v1::BatchGetCustomerScoresRequest& request,
    v1::BatchGetCustomerScoresResponse* response) const {
  std::string who;
  if (grpc::Status allowed = Authorize(context, /*admin=*/false, &who); !allowed.ok()) {
    return allowed;
  }
  if (request.customer_ids_size() > static_cast<int>(kMaxBatchIds)) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "at most 1000 customer_ids per call"};
  }
  const Timestamp as_of = AsOf(*clock_, request.has_as_of(), request.as_of());
  const std::shared_ptr<const Scorer> scorer = scorer_->Current();
  const std::shared_ptr<const PopulationView> population = population_->Current();
  for (const std::string& raw_id : request.customer_ids()) {
    if (raw_id.empty()) return {grpc::StatusCode::INVALID_ARGUMENT, "a customer_id is empty"};
    const CustomerId id(raw_id);
    auto state = store_->Find(id);
    if (!state.ok()) return ToGrpc(state.status());
    if (options_.restoring != nullptr) {
      if (absl::Status answer = options_.restoring->CheckAnswer(id, *state); !answer.ok()) {
        return ToGrpc(answer);
      }
    }
    if (!*state) {
      response->add_not_found(raw_id);
      continue;
    }
    ToProto(scorer->Score(id, **state, as_of, population.get()), response->add_scores());
  }
  return grpc::Status::OK;
}

grpc::Status ScoringServiceImpl::ListAtRiskCustomers(grpc::ServerContext* context,
                                                     const v1::ListAtRiskCustomersRequest* request,
                                                     v1::ListAtRiskCustomersResponse* response) {
  std::string who;
  if (grpc::Status allowed = Authorize(*context, /*admin=*/false, &who); !allowed.ok()) {
    return allowed;
  }
  constexpr std::uint32_t kDefaultTop = 100, kMaxTop = 1000;
  constexpr std::size_t kPage = 256;
  if (request->top_n() > kMaxTop) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "top_n is at most 1000"};
  }
  if (options_.restoring != nullptr) {
    if (absl::Status answer = options_.restoring->CheckAll(); !answer.ok()) return ToGrpc(answer);
  }
  const std::size_t top = request->top_n() == 0 ? kDefaultTop : request->top_n();
  const Timestamp now = clock_->Now();
  const std::shared_ptr<const Scorer> scorer = scorer_->Current();
  const std::shared_ptr<const PopulationView> population = population_->Current();
  // The best so far, highest churn first (ties by id, as the index orders them).
  std::vector<Scores> best;
  const auto ranks_before = [](const Scores& a, const Scores& b) {
    return a.churn != b.churn ? a.churn > b.churn : a.customer_id < b.customer_id;
  };
  std::optional<RiskEntry> after;
  for (bool more = true; more;) {
    if (context->IsCancelled()) return {grpc::StatusCode::CANCELLED, "cancelled"};
    auto page = store_->Riskiest(after, kPage);
    if (!page.ok()) return ToGrpc(page.status());
    more = page->size() == kPage;
    for (const RiskEntry& entry : *page) {
      // Nobody below this entry can be more at risk now than the last of the
      // best: a customer's current churn is within the precision of their
      // last look's, which is within half of it of their indexed churn.
      if (best.size() == top && entry.churn + 1.5 * options_.risk_precision < best.back().churn) {
        more = false;
        break;
      }
      auto state = store_->Get(entry.partition, entry.customer);
      if (!state.ok()) return ToGrpc(state.status());
      if (!*state) continue;  // erased since
      Scores scores = scorer->Score(entry.customer, **state, now, population.get());
      if (!request->segment().empty() && scores.segment != request->segment()) continue;
      best.insert(std::upper_bound(best.begin(), best.end(), scores, ranks_before),
                  std::move(scores));
      if (best.size() > top) best.pop_back();
    }
    if (!page->empty()) after = page->back();
  }
  for (const Scores& scores : best) ToProto(scores, response->add_customers());
  return grpc::Status::OK;
}

grpc::Status ScoringServiceImpl::WatchAlerts(grpc::ServerContext* context,
                                             const v1::WatchAlertsRequest* request,
                                             grpc::ServerWriter<v1::ChurnAlert>* writer) {
  std::string who;
  if (grpc::Status allowed = Authorize(*context, /*admin=*/false, &who); !allowed.ok()) {
    return allowed;
  }
  if (options_.alerts == nullptr)
    return {grpc::StatusCode::UNIMPLEMENTED, "alerts are not enabled"};
  if (!(request->min_churn() >= 0 && request->min_churn() <= 1)) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "min_churn must be in [0, 1]"};
  }
  static constexpr std::array<std::string_view, 5> kActions = {"", "WIN_BACK", "RETAIN", "DEVELOP",
                                                               "NONE"};
  if (std::find(kActions.begin(), kActions.end(), request->action()) == kActions.end()) {
    return {grpc::StatusCode::INVALID_ARGUMENT,
            "action must be WIN_BACK, RETAIN, DEVELOP, NONE or empty"};
  }
  const std::unique_ptr<AlertHub::Subscription> subscription = options_.alerts->Subscribe();
  // The headers tell the caller that it is subscribed: alerts from now on reach it.
  writer->SendInitialMetadata();
  while (!context->IsCancelled()) {
    std::optional<AlertEvent> alert = subscription->Next(std::chrono::milliseconds(200));
    if (!alert) {
      if (subscription->closed()) return {grpc::StatusCode::UNAVAILABLE, "shutting down"};
      continue;
    }
    if ((!request->segment().empty() && alert->segment != request->segment()) ||
        alert->churn < request->min_churn() ||
        (!request->action().empty() && alert->action != request->action())) {
      continue;
    }
    v1::ChurnAlert message;
    ToProto(*alert, &message);
    if (!writer->Write(message)) break;  // the client left
  }
  return grpc::Status::OK;
}

grpc::Status ScoringServiceImpl::GetCustomerState(grpc::ServerContext* context,
                                                  const v1::GetCustomerStateRequest* request,
                                                  v1::CustomerState* response) {
  std::string who;
  if (grpc::Status allowed = Authorize(*context, /*admin=*/false, &who); !allowed.ok()) {
    return allowed;
  }
  CustomerState state;
  if (grpc::Status status =
          LoadCustomer(*store_, options_.restoring, request->customer_id(), &state);
      !status.ok()) {
    return status;
  }
  ToProto(CustomerId(request->customer_id()), state, response);
  return grpc::Status::OK;
}

grpc::Status ScoringServiceImpl::Authorize(const grpc::ServerContextBase& context, bool admin,
                                           std::string* who) const {
  if (options_.authorizer != nullptr) return options_.authorizer->Check(context, admin, who);
  if (!admin) {
    *who = "anonymous";
    return grpc::Status::OK;
  }
  return {grpc::StatusCode::PERMISSION_DENIED,
          "admin calls are refused: no admin token file nor client identity is configured"};
}

grpc::Status ScoringServiceImpl::EraseCustomer(grpc::ServerContext* context,
                                               const v1::EraseCustomerRequest* request,
                                               v1::EraseCustomerResponse* response) {
  std::string who;
  if (grpc::Status allowed = Authorize(*context, /*admin=*/true, &who); !allowed.ok()) {
    return allowed;
  }
  if (request->customer_id().empty()) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "customer_id is empty"};
  }
  if (options_.erasures == nullptr) {
    return {grpc::StatusCode::UNIMPLEMENTED, "erasure is not enabled"};
  }
  std::future<absl::StatusOr<bool>> done = options_.erasures->Submit(
      {CustomerId(request->customer_id()), who, options_.wall_clock->Now()});
  if (done.wait_for(options_.erase_timeout) != std::future_status::ready) {
    return {grpc::StatusCode::UNAVAILABLE,
            "the erasure was not carried out in time (is ingestion running?); retrying is safe"};
  }
  absl::StatusOr<bool> erased = done.get();
  if (!erased.ok()) return ToGrpc(erased.status());
  response->set_erased(*erased);
  return grpc::Status::OK;
}

namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream in(path);
  std::ostringstream text;
  if (!(in && text << in.rdbuf())) {
    return absl::InvalidArgumentError(std::string("cannot read the ") + what + " " + path);
  }
  return text.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const GrpcTlsOptions& tls) {
  if (tls.cert_file.empty()) return grpc::InsecureServerCredentials();
  auto cert = ReadPem(tls.cert_file, "TLS certificate");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(tls.key_file, "TLS key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!tls.client_ca_file.empty()) {
    auto ca = ReadPem(tls.client_ca_file, "client CA");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const std::string& listen,
                                                              grpc::Service* service,
                                                              const GrpcTlsOptions& tls) {
  auto credentials = Credentials(tls);
  if (!credentials.ok()) return credentials.status();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  std::unique_ptr<GrpcServer> server(new GrpcServer());
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, *credentials, &server->port_);
  builder.RegisterService(service);
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0) {
    return absl::UnavailableError("cannot listen for gRPC on " + listen);
  }
  return server;
}

GrpcServer::~GrpcServer() {
  if (server_) server_->Shutdown(SystemDeadline(0));
}

void GrpcServer::SetServing(bool serving) {
  if (auto* health = server_->GetHealthCheckService()) health->SetServingStatus(serving);
}

void GrpcServer::SetServing(const std::string& service, bool serving) {
  if (auto* health = server_->GetHealthCheckService()) health->SetServingStatus(service, serving);
}

void GrpcServer::Shutdown(int deadline_ms) { server_->Shutdown(SystemDeadline(deadline_ms)); }

}  // namespace crm
