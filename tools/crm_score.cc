// crm-score: crm-scored's gRPC API for people: look a customer up, list those
// at risk, follow the alerts, erase a customer.
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/closed_set.h"
#include "core/recommended_action.h"
#include "core/segment.h"
#include "core/value_quadrant.h"
#include "crm/v1/scoring.grpc.pb.h"
#include "services/common/defaults.h"
#include "tools/command_line.h"
#include "tools/grpc_health.h"
#include "tools/score_format.h"

namespace {

// The names the --segment filter accepts: the ABC segments.
std::vector<std::string> SegmentNames() {
  std::vector<std::string> names;
  names.reserve(crm::kSegments.size());
  for (crm::Segment segment : crm::kSegments) {
    if (segment != crm::Segment::kNone) names.emplace_back(crm::SegmentName(segment));
  }
  return names;
}

struct Connection {
  std::string server = std::string(crm::kDefaultGrpcListen);
  std::string token_file;         // the bearer token, alone in the file
  std::string tls_ca;             // set: TLS, the server's certificate checked against this CA
  std::string tls_cert, tls_key;  // a client certificate (mutual TLS)
  double timeout_s = 10;
};

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Exit code 1 with one line naming the call and gRPC's answer.
int Failed(const std::string& what, const grpc::Status& status) {
  // gRPC's codes are the canonical ones Abseil names.
  std::cerr << "crm-score: " << what << ": "
            << absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())) << ": "
            << status.error_message() << "\n";
  return 1;
}

class Client {
 public:
  // Fails (exit code 2 with a line on stderr) on an unreadable file.
  static std::optional<Client> Connect(const Connection& c) {
    Client client;
    client.timeout_s_ = c.timeout_s;
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (!c.tls_ca.empty() || !c.tls_cert.empty()) {
      grpc::SslCredentialsOptions tls;
      for (auto [path, into] : {std::pair{&c.tls_ca, &tls.pem_root_certs},
                                {&c.tls_cert, &tls.pem_cert_chain},
                                {&c.tls_key, &tls.pem_private_key}}) {
        if (path->empty()) continue;
        auto text = ReadFile(*path);
        if (!text) {
          std::cerr << "crm-score: cannot read " << *path << "\n";
          return std::nullopt;
        }
        *into = *text;
      }
      credentials = grpc::SslCredentials(tls);
    }
    if (!c.token_file.empty()) {
      auto token = ReadFile(c.token_file);
      if (!token) {
        std::cerr << "crm-score: cannot read " << c.token_file << "\n";
        return std::nullopt;
      }
      const auto first = token->find_first_not_of(" \t\r\n");
      const auto last = token->find_last_not_of(" \t\r\n");
      if (first == std::string::npos) {
        std::cerr << "crm-score: no token in " << c.token_file << "\n";
        return std::nullopt;
      }
      client.authorization_ = "Bearer " + token->substr(first, last - first + 1);
    }
    client.channel_ = grpc::CreateChannel(c.server, credentials);
    client.stub_ = crm::v1::ScoringService::NewStub(client.channel_);
    return client;
  }

  // A context for one call: the token, and a deadline unless `stream`.
  std::unique_ptr<grpc::ClientContext> Context(bool stream = false) const {
    auto context = std::make_unique<grpc::ClientContext>();
    if (!authorization_.empty()) context->AddMetadata("authorization", authorization_);
    if (!stream) {
      context->set_deadline(std::chrono::system_clock::now() + timeout());
    }
    return context;
  }
  crm::v1::ScoringService::Stub& stub() const { return *stub_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  std::chrono::milliseconds timeout() const {
    return std::chrono::milliseconds(static_cast<int>(timeout_s_ * 1000));
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<crm::v1::ScoringService::Stub> stub_;
  std::string authorization_;
  double timeout_s_ = 10;
};

int Get(const Client& client, const std::string& id, const std::string& as_of, bool json) {
  crm::v1::GetCustomerScoresRequest request;
  request.set_customer_id(id);
  if (!as_of.empty() &&
      !google::protobuf::util::TimeUtil::FromString(as_of, request.mutable_as_of())) {
    std::cerr << "crm-score: --as-of " << as_of
              << " is not an RFC 3339 time (e.g. 2026-12-01T09:00:00Z)\n";
    return 2;
  }
  crm::v1::CustomerScores scores;
  auto context = client.Context();
  if (grpc::Status status = client.stub().GetCustomerScores(context.get(), request, &scores);
      !status.ok()) {
    return Failed("get " + id, status);
  }
  std::cout << (json ? crm::ToJson(scores, false) + "\n" : crm::ScoresTable(scores));
  return 0;
}

int AtRisk(const Client& client, const crm::v1::ListAtRiskCustomersRequest& request, bool json) {
  crm::v1::ListAtRiskCustomersResponse response;
  auto context = client.Context();
  if (grpc::Status status = client.stub().ListAtRiskCustomers(context.get(), request, &response);
      !status.ok()) {
    return Failed("at-risk", status);
  }
  std::cout << (json ? crm::ToJson(response, false) + "\n" : crm::AtRiskTable(response));
  if (response.partial()) {
    std::cerr << "crm-score: at-risk: partial ranking (" << response.partial_reason() << ")\n";
  }
  return 0;
}

int Watch(const Client& client, const crm::v1::WatchAlertsRequest& request, std::uint64_t count,
          bool json) {
  auto context = client.Context(/*stream=*/true);
  auto reader = client.stub().WatchAlerts(context.get(), request);
  // The service answers with its headers once the subscription is in place.
  reader->WaitForInitialMetadata();
  std::cerr << "crm-score: watching alerts"
            << (request.segment().empty() ? "" : " of segment " + request.segment())
            << (request.action().empty() ? "" : " to " + request.action())
            << (request.min_churn() > 0 ? " from churn " + std::to_string(request.min_churn()) : "")
            << " (Ctrl-C stops)" << std::endl;
  crm::v1::ChurnAlert alert;
  std::uint64_t seen = 0;
  while ((count == 0 || seen < count) && reader->Read(&alert)) {
    ++seen;
    std::cout << (json ? crm::ToJson(alert, true) : crm::AlertLine(alert)) << std::endl;
  }
  if (count != 0 && seen == count) {
    context->TryCancel();
    return 0;
  }
  return Failed("watch", reader->Finish());
}

int Erase(const Client& client, const std::string& id) {
  crm::v1::EraseCustomerRequest request;
  request.set_customer_id(id);
  crm::v1::EraseCustomerResponse response;
  auto context = client.Context();
  if (grpc::Status status = client.stub().EraseCustomer(context.get(), request, &response);
      !status.ok()) {
    return Failed("erase " + id, status);
  }
  std::cout << (response.erased() ? "erased " + id : "nothing to erase: " + id + " is unknown")
            << "\n";
  return 0;
}

// The health service's answer for `service`: exit code 0 when SERVING, 1
// otherwise (for container health checks and probes).
int Health(const Client& client, const std::string& service) {
  absl::StatusOr<crm::HealthState> state =
      crm::CheckHealth(client.channel(), service, client.timeout());
  if (!state.ok()) {
    std::cerr << "crm-score: health: " << absl::StatusCodeToString(state.status().code()) << ": "
              << state.status().message() << "\n";
    return 1;
  }
  std::cout << crm::HealthStateName(*state) << "\n";
  return *state == crm::HealthState::kServing ? 0 : 1;
}

}  // namespace

// What may escape is what ends the process anyway (allocation failure).
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  Connection connection;
  CLI::App app(
      "crm-score: crm-scored's gRPC API for people. Looks a customer up (get), lists the "
      "customers most at risk (at-risk), follows the alerts as they are raised (watch), erases "
      "a customer (erase, an admin call), asks the health service (health). Tables for reading; "
      "--json for scripts. Exit codes: "
      "0 done, 1 the service refused or failed (one line naming gRPC's code), 2 bad usage.",
      "crm-score");
  app.require_subcommand(1);
  app.add_option("--server", connection.server, "crm-scored's gRPC address HOST:PORT")
      ->envname("CRM_SERVER")
      ->capture_default_str();
  app.add_option("--token-file", connection.token_file,
                 "A file holding the bearer token of an authorised caller (admin calls, or "
                 "every call under --grpc-auth=all)")
      ->envname("CRM_TOKEN_FILE")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-ca", connection.tls_ca,
                 "TLS: the CA (PEM) the server's certificate is checked against")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-cert", connection.tls_cert, "A client certificate (PEM): mutual TLS")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", connection.tls_key, "The client certificate's key (PEM)")
      ->check(CLI::ExistingFile);
  app.add_option("--timeout", connection.timeout_s, "Seconds a call may take (not watch)")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();

  std::string id, as_of, segment, action;
  bool json = false;
  CLI::App* get = app.add_subcommand(
      "get", "One customer's scores: churn, value, segment, stage, RFM, why, appetence");
  get->add_option("id", id, "Customer id")->required();
  get->add_option("--as-of", as_of, "Score as of this time (RFC 3339; default: now)");
  get->add_flag("--json", json, "The CustomerScores message as JSON");

  std::uint32_t top = 20;
  std::string order = "churn", quadrant;
  bool include_lost = false;
  CLI::App* at_risk = app.add_subcommand(
      "at-risk",
      "The customers most at risk now (most likely to churn, or with the most value "
      "at risk), highest first; lost customers left out unless --include-lost");
  at_risk->add_option("--top", top, "How many (1-1000)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  at_risk->add_option("--segment", segment, "Only this ABC segment (A, B or C)")
      ->check(CLI::IsMember(SegmentNames()));
  at_risk
      ->add_option("--order", order,
                   "churn, or value-at-risk (among the customers at risk: churn at or above "
                   "the alert threshold)")
      ->check(CLI::IsMember({"churn", "value-at-risk"}))
      ->capture_default_str();
  at_risk->add_option("--quadrant", quadrant, "Only this value quadrant")
      ->check(CLI::IsMember(crm::NamesOf(crm::kValueQuadrants, crm::ValueQuadrantName)));
  at_risk->add_option("--action", action, "Only this recommended action")
      ->check(CLI::IsMember(crm::NamesOf(crm::kRecommendedActions, crm::RecommendedActionName)));
  at_risk->add_flag("--include-lost", include_lost, "Lost customers (stage LOST) too");
  at_risk->add_flag("--json", json, "The ListAtRiskCustomersResponse message as JSON");

  crm::v1::WatchAlertsRequest watch_request;
  double min_churn = 0;
  std::uint64_t count = 0;
  CLI::App* watch = app.add_subcommand(
      "watch", "Follows the alerts as they are delivered, one a line, until Ctrl-C or --count");
  watch->add_option("--segment", segment, "Only this ABC segment")
      ->check(CLI::IsMember(SegmentNames()));
  watch->add_option("--action", action, "Only this recommended action")
      ->check(CLI::IsMember(crm::NamesOf(crm::kRecommendedActions, crm::RecommendedActionName)));
  watch->add_option("--min-churn", min_churn, "Only alerts at or above this churn")
      ->check(CLI::Range(0.0, 1.0));
  bool include_cleared = false;
  watch->add_flag("--include-cleared", include_cleared,
                  "Also the clears of alerts (CLEARED, with their reason), not raises only");
  watch->add_option("--count", count, "Stop after this many alerts (0: never)");
  watch->add_flag("--json", json, "Each ChurnAlert as one line of JSON");

  CLI::App* erase = app.add_subcommand(
      "erase",
      "Forgets a customer (right to be forgotten): an admin call, recorded in the audit trail");
  erase->add_option("id", id, "Customer id")->required();

  std::string health_service;
  CLI::App* health = app.add_subcommand(
      "health",
      "The gRPC health service's answer (SERVING, NOT_SERVING…); exit code 0 only when SERVING");
  health->add_option("--service", health_service,
                     "A part of the service: crm.v1.Ingest (touchpoints flowing from the "
                     "brokers); default: the whole server");

  if (auto exit_code = crm::ParseCommandLine(app, argc, argv)) return *exit_code;
  const std::optional<Client> client = Client::Connect(connection);
  if (!client) return 2;
  if (*health) return Health(*client, health_service);
  if (*get) return Get(*client, id, as_of, json);
  if (*at_risk) {
    crm::v1::ListAtRiskCustomersRequest request;
    request.set_top_n(top);
    request.set_segment(segment);
    request.set_order_by(order == "churn" ? crm::v1::AT_RISK_ORDER_CHURN
                                          : crm::v1::AT_RISK_ORDER_VALUE_AT_RISK);
    request.set_value_quadrant(quadrant);
    request.set_action(action);
    request.set_include_lost(include_lost);
    return AtRisk(*client, request, json);
  }
  if (*watch) {
    watch_request.set_segment(segment);
    watch_request.set_action(action);
    watch_request.set_min_churn(min_churn);
    watch_request.set_include_cleared(include_cleared);
    return Watch(*client, watch_request, count, json);
  }
  return Erase(*client, id);
}
