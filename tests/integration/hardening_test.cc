// What must never happen, on the real stack: erasure that leaves a trace,
// admin calls from anyone, secrets in logs; bad input, storage faults and a
// lost broker that crash the service or lose touchpoints.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "crm/v1/scoring.grpc.pb.h"
#include "services/kafka/embedded_broker.h"
#include "tests/integration/grpc_health.h"
#include "tests/integration/service_process.h"
#include "tests/integration/touchpoint_producer.h"
#include "tools/scrape.h"

namespace crm {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::ProduceTouchpoints;
using testing::TempDir;

constexpr std::int64_t kDaySeconds = 86'400;
constexpr std::int64_t kStart = 1'735'689'600;  // 2025-01-01T00:00:00Z
constexpr char kToken[] = "0123456789abcdef-ops-token";

v1::Touchpoint Event(const std::string& customer, const std::string& id, int day,
                     v1::TouchpointType type = v1::PURCHASE) {
  v1::Touchpoint m;
  m.set_event_id(id);
  m.set_customer_id(customer);
  m.mutable_occurred_at()->set_seconds(kStart + day * kDaySeconds);
  m.set_channel(v1::WEB);
  m.set_type(type);
  if (type == v1::PURCHASE) m.set_amount(40);
  return m;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// crm-scored on `brokers`, the event clock and `data`, with `extra` flags;
// its gRPC and metrics ports once it serves.
struct RunningService {
  std::unique_ptr<ChildProcess> process;
  std::string grpc;     // "127.0.0.1:PORT"
  std::string metrics;  // "http://127.0.0.1:PORT/metrics"
};
RunningService StartService(const std::string& brokers, const std::filesystem::path& data,
                            const std::filesystem::path& log, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--brokers",        brokers,
                                   "--data-dir",       data.string(),
                                   "--grpc-listen",    "127.0.0.1:0",
                                   "--metrics-listen", "127.0.0.1:0",
                                   "--clock",          "event",
                                   "--group",          "hardening-test",
                                   "--kafka",          "session.timeout.ms=6000",
                                   "--kafka",          "fetch.wait.max.ms=10"};
  args.insert(args.end(), extra.begin(), extra.end());
  RunningService service;
  service.process = std::make_unique<ChildProcess>(CRM_SCORED_BIN, args, log);
  const auto metrics = service.process->WaitForLog("metrics listening on http://127.0.0.1:", 30s);
  const auto grpc = service.process->WaitForLog("gRPC listening on 127.0.0.1:", 30s);
  EXPECT_TRUE(metrics && grpc) << service.process->Log();
  if (metrics) service.metrics = "http://127.0.0.1:" + *metrics + "/metrics";
  if (grpc) service.grpc = "127.0.0.1:" + grpc->substr(0, grpc->find(' '));
  return service;
}

// Waits until `customer` has `events` touchpoints applied; false at the deadline.
bool WaitApplied(v1::ScoringService::Stub& stub, const std::string& customer, std::uint64_t events,
                 const std::function<void(grpc::ClientContext&)>& authorise = {}) {
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < until) {
    v1::GetCustomerStateRequest request;
    request.set_customer_id(customer);
    v1::CustomerState state;
    grpc::ClientContext context;
    if (authorise) authorise(context);
    if (stub.GetCustomerState(&context, request, &state).ok() && state.events_applied() >= events) {
      return true;
    }
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

grpc::Status Erase(v1::ScoringService::Stub& stub, const std::string& customer,
                   const std::string& token, bool* erased) {
  v1::EraseCustomerRequest request;
  request.set_customer_id(customer);
  v1::EraseCustomerResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 30s);
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  const grpc::Status status = stub.EraseCustomer(&context, request, &response);
  if (erased != nullptr) *erased = response.erased();
  return status;
}

grpc::StatusCode ScoresStatus(v1::ScoringService::Stub& stub, const std::string& customer,
                              const std::string& token = "") {
  v1::GetCustomerScoresRequest request;
  request.set_customer_id(customer);
  v1::CustomerScores scores;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  return stub.GetCustomerScores(&context, request, &scores).error_code();
}

// A CA, a server certificate for localhost and 127.0.0.1, and client
// certificates for `clients` (their common names), made with openssl in `dir`.
void MakeCertificates(const std::filesystem::path& dir, const std::vector<std::string>& clients) {
  std::ostringstream script;
  script
      << "set -e; cd '" << dir.string() << "'\n"
      << "key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out $1; }\n"
      << "key ca.key; openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj /CN=test-ca\n"
      << "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > server.ext\n"
      << "key server.key; openssl req -new -key server.key -out server.csr -subj /CN=localhost\n"
      << "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
         "-out server.pem -days 2 -extfile server.ext\n";
  for (const std::string& client : clients) {
    script << "key " << client << ".key; openssl req -new -key " << client << ".key -out " << client
           << ".csr -subj /CN=" << client << "\n"
           << "openssl x509 -req -in " << client << ".csr -CA ca.pem -CAkey ca.key "
           << "-CAcreateserial -out " << client << ".pem -days 2\n";
  }
  std::ofstream(dir / "certs.sh") << script.str();
  ChildProcess openssl("/bin/bash", {(dir / "certs.sh").string()}, dir / "certs.log");
  ASSERT_EQ(openssl.Wait(60s), 0) << openssl.Log();
}

std::unique_ptr<v1::ScoringService::Stub> TlsStub(const std::string& address,
                                                  const std::filesystem::path& dir,
                                                  const std::string& client = "") {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(dir / "ca.pem");
  if (!client.empty()) {
    ssl.pem_private_key = ReadFile(dir / (client + ".key"));
    ssl.pem_cert_chain = ReadFile(dir / (client + ".pem"));
  }
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  return v1::ScoringService::NewStub(
      grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args));
}

// TLS, mutual TLS and bearer tokens: reads are open, erasure needs an
// authorised caller, every erasure is in the audit trail under the caller's
// name, and no secret reaches the logs or the metrics.
TEST(SecurityTest, TlsTokensAndClientCertificatesGuardAdminCalls) {
  TempDir dir;
  MakeCertificates(dir.path(), {"ops-admin", "intruder"});
  std::ofstream(dir.path() / "tokens") << "# admin tokens\nops:" << kToken << "\n";
  auto broker = EmbeddedBroker::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  ProduceTouchpoints((*broker)->bootstrap(),
                     {Event("c1", "e1", 1), Event("c2", "e2", 2), Event("c3", "e3", 3)});
  const std::vector<std::string> tls = {"--grpc-tls-cert",
                                        (dir.path() / "server.pem").string(),
                                        "--grpc-tls-key",
                                        (dir.path() / "server.key").string(),
                                        "--grpc-tls-client-ca",
                                        (dir.path() / "ca.pem").string(),
                                        "--admin-token-file",
                                        (dir.path() / "tokens").string(),
                                        "--admin-identity",
                                        "ops-admin",
                                        "--kafka",
                                        "ssl.key.password=kafka-SECRET-never-logged"};
  RunningService service =
      StartService((*broker)->bootstrap(), dir.path() / "data", dir.path() / "service.log", tls);
  ASSERT_FALSE(service.grpc.empty());
  auto anonymous = TlsStub(service.grpc, dir.path());
  ASSERT_TRUE(WaitApplied(*anonymous, "c3", 1)) << service.process->Log();

  // Plaintext to a TLS server gets nowhere.
  auto plaintext = v1::ScoringService::NewStub(
      grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials()));
  EXPECT_EQ(ScoresStatus(*plaintext, "c1"), grpc::StatusCode::UNAVAILABLE);
  // Reads are open; erasure is not.
  EXPECT_EQ(ScoresStatus(*anonymous, "c1"), grpc::StatusCode::OK);
  EXPECT_EQ(Erase(*anonymous, "c1", "", nullptr).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Erase(*anonymous, "c1", "not-the-token-at-all", nullptr).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Erase(*anonymous, "", kToken, nullptr).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  bool erased = false;
  ASSERT_TRUE(Erase(*anonymous, "c1", kToken, &erased).ok());
  EXPECT_TRUE(erased);
  ASSERT_TRUE(Erase(*anonymous, "c1", kToken, &erased).ok());
  EXPECT_FALSE(erased);  // exactly once: nothing left the second time
  EXPECT_EQ(ScoresStatus(*anonymous, "c1"), grpc::StatusCode::NOT_FOUND);
  // A client certificate: the authorised identity erases, another may not.
  auto intruder = TlsStub(service.grpc, dir.path(), "intruder");
  EXPECT_EQ(Erase(*intruder, "c2", "", nullptr).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  auto admin = TlsStub(service.grpc, dir.path(), "ops-admin");
  ASSERT_TRUE(Erase(*admin, "c2", "", &erased).ok());
  EXPECT_TRUE(erased);
  EXPECT_EQ(ScoresStatus(*admin, "c2"), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ScoresStatus(*admin, "c3"), grpc::StatusCode::OK);

  // The audit trail: who, when, which id, for every erasure carried out.
  const std::string audit = ReadFile(dir.path() / "data" / "audit.log");
  EXPECT_NE(audit.find(R"("customer_id":"c1","requested_by":"token:ops")"), std::string::npos)
      << audit;
  EXPECT_NE(audit.find(R"("customer_id":"c2","requested_by":"mtls:ops-admin")"), std::string::npos)
      << audit;
  EXPECT_NE(audit.find(R"("at":")"), std::string::npos) << audit;
  // No secret anywhere it could leak.
  const std::string page = HttpGet(service.metrics).value_or("");
  for (const std::string& text : {service.process->Log(), page, audit}) {
    EXPECT_EQ(text.find(kToken), std::string::npos);
    EXPECT_EQ(text.find("kafka-SECRET-never-logged"), std::string::npos);
  }
  EXPECT_NE(service.process->Log().find("kafka.ssl.key.password=****"), std::string::npos);
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();

  // --grpc-auth all: reads need an authorised caller too.
  std::vector<std::string> all = tls;
  all.insert(all.end(), {"--grpc-auth", "all"});
  service = StartService((*broker)->bootstrap(), dir.path() / "data", dir.path() / "all.log", all);
  auto closed = TlsStub(service.grpc, dir.path());
  EXPECT_EQ(ScoresStatus(*closed, "c3"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ScoresStatus(*closed, "c3", kToken), grpc::StatusCode::OK);
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();
}

// Erasure on a customer with an open alert: state, at-risk ranking, open
// alert and population forget them, for good (a restart too).
TEST(ErasureTest, AnErasedCustomerIsGoneFromEverythingAndStaysGone) {
  TempDir dir;
  std::ofstream(dir.path() / "tokens") << kToken << "\n";
  auto broker = EmbeddedBroker::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  std::vector<v1::Touchpoint> touchpoints;
  for (int i = 0; i < 20; ++i) {  // two steady buyers, silent after day 266
    touchpoints.push_back(Event("gone", "g" + std::to_string(i), 14 * i));
    touchpoints.push_back(Event("kept", "k" + std::to_string(i), 14 * i));
  }
  for (int day = 270; day <= 500; day += 5) {
    touchpoints.push_back(Event("ticker", "t" + std::to_string(day), day, v1::CONTACT));
  }
  ProduceTouchpoints((*broker)->bootstrap(), touchpoints);
  const std::vector<std::string> flags = {"--admin-token-file", (dir.path() / "tokens").string()};
  RunningService service =
      StartService((*broker)->bootstrap(), dir.path() / "data", dir.path() / "service.log", flags);
  auto stub = v1::ScoringService::NewStub(
      grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials()));
  ASSERT_TRUE(WaitApplied(*stub, "ticker", 47)) << service.process->Log();
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (SumSamples(HttpGet(service.metrics).value_or(""), "crm_alerts_open") < 2 &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(SumSamples(HttpGet(service.metrics).value_or(""), "crm_alerts_open"), 2);
  const auto at_risk = [&] {
    v1::ListAtRiskCustomersRequest request;
    v1::ListAtRiskCustomersResponse response;
    grpc::ClientContext context;
    EXPECT_TRUE(stub->ListAtRiskCustomers(&context, request, &response).ok());
    std::vector<std::string> ids;
    for (const v1::CustomerScores& s : response.customers()) ids.push_back(s.customer_id());
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  ASSERT_EQ(at_risk(), (std::vector<std::string>{"gone", "kept"}));

  bool erased = false;
  ASSERT_TRUE(Erase(*stub, "gone", kToken, &erased).ok());
  EXPECT_TRUE(erased);
  EXPECT_EQ(ScoresStatus(*stub, "gone"), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(at_risk(), std::vector<std::string>{"kept"});
  const std::string page = HttpGet(service.metrics).value_or("");
  EXPECT_EQ(SumSamples(page, "crm_alerts_open"), 1) << page;
  EXPECT_EQ(SumSamples(page, "crm_population_customers"), 1) << page;
  EXPECT_NE(service.process->Log().find("audit: erase customer_id=gone requested_by=token:token-1"),
            std::string::npos)
      << service.process->Log();
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();

  // After a restart: still gone, the population still without them.
  service =
      StartService((*broker)->bootstrap(), dir.path() / "data", dir.path() / "again.log", flags);
  stub = v1::ScoringService::NewStub(
      grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials()));
  EXPECT_EQ(ScoresStatus(*stub, "gone"), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ScoresStatus(*stub, "kept"), grpc::StatusCode::OK);
  EXPECT_NE(service.process->Log().find("population: 1 buyers"), std::string::npos)
      << service.process->Log();
  EXPECT_EQ(at_risk(), std::vector<std::string>{"kept"});
  // Without any admin credential configured, erasure is refused outright.
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();
  service = StartService((*broker)->bootstrap(), dir.path() / "data", dir.path() / "open.log");
  stub = v1::ScoringService::NewStub(
      grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials()));
  EXPECT_EQ(Erase(*stub, "kept", kToken, nullptr).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ScoresStatus(*stub, "kept"), grpc::StatusCode::OK);
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();
}

// The broker goes away mid-stream: queries are still answered from the state,
// ingestion reports itself NOT_SERVING in health and in a metric, and when
// the broker is back every touchpoint is applied once.
TEST(BrokerLossTest, QueriesGoOnWhileTheBrokerIsAwayAndNothingIsLostWhenItReturns) {
  TempDir dir;
  auto broker = EmbeddedBroker::Start(ContractTopics(2));
  ASSERT_TRUE(broker.ok()) << broker.status();
  std::vector<v1::Touchpoint> before, after;
  for (int i = 0; i < 100; ++i) {
    before.push_back(Event("c" + std::to_string(i % 10), "b" + std::to_string(i), i % 50));
    after.push_back(Event("c" + std::to_string(i % 10), "a" + std::to_string(i), 50 + i % 50));
  }
  ProduceTouchpoints((*broker)->bootstrap(), before);
  RunningService service = StartService(
      (*broker)->bootstrap(), dir.path() / "data", dir.path() / "service.log",
      {"--kafka", "reconnect.backoff.max.ms=500", "--kafka", "socket.timeout.ms=2000"});
  auto channel = grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials());
  auto stub = v1::ScoringService::NewStub(channel);
  const auto applied = [&] {
    std::uint64_t total = 0;
    for (int c = 0; c < 10; ++c) {
      v1::GetCustomerStateRequest request;
      request.set_customer_id("c" + std::to_string(c));
      v1::CustomerState state;
      grpc::ClientContext context;
      if (stub->GetCustomerState(&context, request, &state).ok()) total += state.events_applied();
    }
    return total;
  };
  const auto wait_for = [&](const std::function<bool()>& condition) {
    const auto until = std::chrono::steady_clock::now() + 60s;
    while (!condition() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(100ms);
    }
    return condition();
  };
  ASSERT_TRUE(wait_for([&] { return applied() == 100; })) << service.process->Log();
  EXPECT_EQ(testing::HealthStatus(channel, "crm.v1.Ingest"), 1);

  ASSERT_TRUE((*broker)->SetReachable(false).ok());
  ASSERT_TRUE(wait_for([&] { return testing::HealthStatus(channel, "crm.v1.Ingest") == 2; }))
      << service.process->Log();
  EXPECT_EQ(SumSamples(HttpGet(service.metrics).value_or(""), "crm_input_connected"), 0);
  EXPECT_EQ(testing::HealthStatus(channel), 1);  // the server itself still serves
  EXPECT_EQ(ScoresStatus(*stub, "c1"), grpc::StatusCode::OK);
  EXPECT_EQ(applied(), 100u);

  ASSERT_TRUE((*broker)->SetReachable(true).ok());
  ProduceTouchpoints((*broker)->bootstrap(), after);
  ASSERT_TRUE(wait_for([&] { return applied() >= 200; })) << service.process->Log();
  EXPECT_EQ(applied(), 200u);  // each once
  EXPECT_TRUE(wait_for([&] { return testing::HealthStatus(channel, "crm.v1.Ingest") == 1; }));
  EXPECT_EQ(SumSamples(HttpGet(service.metrics).value_or(""), "crm_input_connected"), 1);
  EXPECT_NE(service.process->Log().find("brokers unreachable"), std::string::npos);
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();
}

}  // namespace
}  // namespace crm
