// What must never happen, on the real stack: erasure that leaves a trace,
// admin calls from anyone, secrets in logs; bad input, storage faults and a
// lost broker that crash the service or lose touchpoints.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "crm/v1/scoring.grpc.pb.h"
#include "services/kafka/dead_letter_sink.h"
#include "services/kafka/embedded_broker.h"
#include "tests/integration/service_process.h"
#include "tests/integration/test_cluster.h"
#include "tests/integration/touchpoint_producer.h"
#include "tools/grpc_health.h"
#include "tools/scrape.h"

namespace crm {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::ProduceTouchpoints;
using testing::ReadFile;
using testing::RunningService;
using testing::ScoresStatus;
using testing::StartService;
using testing::TempDir;
using testing::WaitApplied;

using testing::kDaySeconds;
constexpr std::int64_t kStart = testing::kTestEpochSeconds;
constexpr char kToken[] = "0123456789abcdef-ops-token";
constexpr char kReaderToken[] = "0123456789abcdef-desk-token";

v1::Touchpoint Event(const std::string& customer, const std::string& id, int day,
                     v1::TouchpointType type = v1::PURCHASE, double amount = 40) {
  return testing::DayTouchpoint(customer, id, day, type, amount);
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
  MakeCertificates(dir.path(), {"ops-admin", "intruder", "desk-reader"});
  std::ofstream(dir.path() / "tokens") << "# admin tokens\nops:" << kToken << "\n";
  auto broker = testing::TestKafka::Start(ContractTopics(1));
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
                                        "--peer-tls-ca",
                                        (dir.path() / "ca.pem").string(),
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

  // --grpc-auth all: reads need a reader or an admin; erasure, an admin.
  // Kafka security settings pass from the config file to librdkafka, their
  // secrets masked.
  std::ofstream(dir.path() / "readers") << "desk:" << kReaderToken << "\n";
  std::ofstream(dir.path() / "crm.toml")
      << "grpc-auth = \"all\"\n"
      << "reader-identity = [\"desk-reader\"]\n"
      << "kafka = [\"sasl.username=crm\", \"sasl.password=config-SECRET-never-logged\", "
         "\"sasl.mechanism=PLAIN\"]\n";
  std::vector<std::string> all = tls;  // its --kafka adds to the file's list
  all.insert(all.end(), {"--config", (dir.path() / "crm.toml").string(), "--reader-token-file",
                         (dir.path() / "readers").string()});
  service = StartService((*broker)->bootstrap(), dir.path() / "data", dir.path() / "all.log", all);
  auto closed = TlsStub(service.grpc, dir.path());
  auto reader_certificate = TlsStub(service.grpc, dir.path(), "desk-reader");
  auto admin_certificate = TlsStub(service.grpc, dir.path(), "ops-admin");
  // Every RPC kind, by a caller holding a token (or none) on `stub`.
  const auto calls = [](v1::ScoringService::Stub& stub, const std::string& token) {
    const auto prepare = [&](grpc::ClientContext& context) {
      context.set_deadline(std::chrono::system_clock::now() + 10s);
      if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    };
    std::map<std::string, grpc::StatusCode> codes;
    codes["get"] = ScoresStatus(stub, "c3", token);
    {
      v1::BatchGetCustomerScoresRequest request;
      request.add_customer_ids("c3");
      v1::BatchGetCustomerScoresResponse response;
      grpc::ClientContext context;
      prepare(context);
      codes["batch"] = stub.BatchGetCustomerScores(&context, request, &response).error_code();
    }
    {
      v1::GetCustomerStateRequest request;
      request.set_customer_id("c3");
      v1::CustomerState response;
      grpc::ClientContext context;
      prepare(context);
      codes["state"] = stub.GetCustomerState(&context, request, &response).error_code();
    }
    {
      v1::ListAtRiskCustomersRequest request;
      v1::ListAtRiskCustomersResponse response;
      grpc::ClientContext context;
      prepare(context);
      codes["at-risk"] = stub.ListAtRiskCustomers(&context, request, &response).error_code();
    }
    {
      // Admitted: the stream stays open (no alert comes) until its
      // deadline; refused: it ends at once with the refusal.
      v1::WatchAlertsRequest request;
      grpc::ClientContext context;
      prepare(context);
      context.set_deadline(std::chrono::system_clock::now() + 2s);
      auto reader = stub.WatchAlerts(&context, request);
      v1::ChurnAlert alert;
      while (reader->Read(&alert)) {
      }
      const grpc::Status status = reader->Finish();
      codes["watch"] = status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
                           ? grpc::StatusCode::OK
                           : status.error_code();
    }
    codes["erase"] = Erase(stub, "nobody-at-all", token, nullptr).error_code();
    return codes;
  };
  using Codes = std::map<std::string, grpc::StatusCode>;
  const auto all_but_erase = [](grpc::StatusCode reads, grpc::StatusCode erase) {
    return Codes{{"get", reads},     {"batch", reads}, {"state", reads},
                 {"at-risk", reads}, {"watch", reads}, {"erase", erase}};
  };
  using grpc::StatusCode;
  EXPECT_EQ(calls(*closed, ""),
            all_but_erase(StatusCode::UNAUTHENTICATED, StatusCode::UNAUTHENTICATED));
  EXPECT_EQ(calls(*closed, "not-the-token-at-all"),
            all_but_erase(StatusCode::PERMISSION_DENIED, StatusCode::PERMISSION_DENIED));
  EXPECT_EQ(calls(*closed, kReaderToken),
            all_but_erase(StatusCode::OK, StatusCode::PERMISSION_DENIED));
  EXPECT_EQ(calls(*reader_certificate, ""),
            all_but_erase(StatusCode::OK, StatusCode::PERMISSION_DENIED));
  auto intruder_certificate = TlsStub(service.grpc, dir.path(), "intruder");
  EXPECT_EQ(calls(*intruder_certificate, ""),
            all_but_erase(StatusCode::PERMISSION_DENIED, StatusCode::PERMISSION_DENIED));
  // Admins read too, and erase (nothing to erase here: erased = false).
  EXPECT_EQ(calls(*closed, kToken), all_but_erase(StatusCode::OK, StatusCode::OK));
  EXPECT_EQ(calls(*admin_certificate, ""), all_but_erase(StatusCode::OK, StatusCode::OK));
  const std::string log = service.process->Log();
  EXPECT_NE(log.find("kafka.sasl.username=crm"), std::string::npos) << log;
  EXPECT_NE(log.find("kafka.sasl.password=****"), std::string::npos) << log;
  EXPECT_EQ(log.find("config-SECRET-never-logged"), std::string::npos) << log;
  EXPECT_EQ(HttpGet(service.metrics).value_or("").find("SECRET"), std::string::npos);
  EXPECT_EQ(log.find(kReaderToken), std::string::npos) << log;
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();
}

// Erasure on a customer with an open alert: state, at-risk ranking, open
// alert and population forget them, for good (a restart too).
TEST(ErasureTest, AnErasedCustomerIsGoneFromEverythingAndStaysGone) {
  TempDir dir;
  std::ofstream(dir.path() / "tokens") << kToken << "\n";
  auto broker = testing::TestKafka::Start(ContractTopics(1));
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
    request.set_include_lost(true);  // silent for 234 days: lost by now
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
  // The audit trail holds the request, then its outcome.
  const std::string trail = ReadFile(dir.path() / "data" / "audit.log");
  EXPECT_NE(trail.find("\"event\":\"erase\",\"customer_id\":\"gone\""), std::string::npos) << trail;
  EXPECT_NE(trail.find("\"event\":\"erase-outcome\",\"customer_id\":\"gone\",\"outcome\":"
                       "\"erased\""),
            std::string::npos)
      << trail;
  // Touchpoints of theirs that occurred before the erasure and arrive after
  // it (Kafka lag, a late source) do not bring them back; the ticker's next
  // event, behind them on the one partition, says they were read.
  ProduceTouchpoints((*broker)->bootstrap(),
                     {Event("gone", "late-1", 300), Event("gone", "late-2", 301, v1::CONTACT),
                      Event("ticker", "t-after", 502, v1::CONTACT)});
  ASSERT_TRUE(WaitApplied(*stub, "ticker", 48)) << service.process->Log();
  EXPECT_EQ(ScoresStatus(*stub, "gone"), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(SumSamples(HttpGet(service.metrics).value_or(""), "crm_touchpoints_erased_total"), 2);
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

// An erasure asked while the brokers are away cannot be made durable (the
// changelog does not acknowledge it): it is answered UNAVAILABLE, recorded as
// failed, and the service goes on answering reads; once the brokers are
// back the same request erases the customer.
TEST(ErasureTest, DuringABrokerOutageAnErasureIsUnavailableAndTheServiceGoesOn) {
  if (testing::OnExternalKafka()) GTEST_SKIP() << "takes the broker down: the mock's SetReachable";
  TempDir dir;
  std::ofstream(dir.path() / "tokens") << kToken << "\n";
  auto broker = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  ProduceTouchpoints((*broker)->bootstrap(),
                     {Event("gone", "g1", 1), Event("gone", "g2", 15), Event("kept", "k1", 2)});
  RunningService service =
      StartService((*broker)->bootstrap(), dir.path() / "data", dir.path() / "service.log",
                   {"--admin-token-file", (dir.path() / "tokens").string(), "--kafka",
                    "reconnect.backoff.max.ms=500", "--kafka", "socket.timeout.ms=2000", "--kafka",
                    "message.timeout.ms=3000"});
  auto channel = grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials());
  auto stub = v1::ScoringService::NewStub(channel);
  ASSERT_TRUE(WaitApplied(*stub, "gone", 2)) << service.process->Log();
  ASSERT_TRUE(WaitApplied(*stub, "kept", 1)) << service.process->Log();
  const auto ingest_is = [&](HealthState want) {
    const auto until = std::chrono::steady_clock::now() + 60s;
    while (CheckHealth(channel, "crm.v1.Ingest").value_or(HealthState::kUnknown) != want &&
           std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(100ms);
    }
    return CheckHealth(channel, "crm.v1.Ingest").value_or(HealthState::kUnknown) == want;
  };

  ASSERT_TRUE((*broker)->SetReachable(false).ok());
  ASSERT_TRUE(ingest_is(HealthState::kNotServing)) << service.process->Log();
  bool erased = true;
  const grpc::Status away = Erase(*stub, "gone", kToken, &erased);
  EXPECT_EQ(away.error_code(), grpc::StatusCode::UNAVAILABLE) << away.error_message();
  EXPECT_EQ(ScoresStatus(*stub, "gone"), grpc::StatusCode::OK) << "nothing was erased";
  EXPECT_EQ(ScoresStatus(*stub, "kept"), grpc::StatusCode::OK);
  EXPECT_NE(ReadFile(dir.path() / "data" / "audit.log").find("\"outcome\":\"failed\""),
            std::string::npos);

  ASSERT_TRUE((*broker)->SetReachable(true).ok());
  ASSERT_TRUE(ingest_is(HealthState::kServing)) << service.process->Log();
  // Retrying is safe: the same request erases them now.
  const auto until = std::chrono::steady_clock::now() + 60s;
  grpc::Status back;
  do {
    back = Erase(*stub, "gone", kToken, &erased);
    if (back.ok()) break;
    std::this_thread::sleep_for(500ms);
  } while (std::chrono::steady_clock::now() < until);
  ASSERT_TRUE(back.ok()) << back.error_message() << service.process->Log();
  EXPECT_TRUE(erased);
  // Answers as soon as no rebalance (the brokers' return may cause one) is under way.
  const auto settled = [&](const std::string& customer) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    grpc::StatusCode code = ScoresStatus(*stub, customer);
    while (code == grpc::StatusCode::UNAVAILABLE && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(200ms);
      code = ScoresStatus(*stub, customer);
    }
    return code;
  };
  EXPECT_EQ(settled("gone"), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(settled("kept"), grpc::StatusCode::OK) << service.process->Log();
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();
}

// The gRPC edge refuses what it cannot serve, before any work and with a
// short answer: a time that overflows, ids too long or not UTF-8, unknown
// filter values. The service keeps serving the good calls.
TEST(EdgeTest, BadRequestsAreInvalidArgumentWithShortMessages) {
  TempDir dir;
  std::ofstream(dir.path() / "tokens") << "ops:" << kToken << "\n";
  auto broker = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  ProduceTouchpoints((*broker)->bootstrap(), {Event("c1", "e1", 1)});
  RunningService service =
      StartService((*broker)->bootstrap(), dir.path() / "data", dir.path() / "service.log",
                   {"--admin-token-file", (dir.path() / "tokens").string()});
  auto stub = v1::ScoringService::NewStub(
      grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials()));
  ASSERT_TRUE(WaitApplied(*stub, "c1", 1)) << service.process->Log();
  const std::string long_id(100'000, 'x');
  const std::string not_utf8 = "c1\xff\xfe";
  const auto expect_invalid = [](const grpc::Status& status, const std::string& what) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << what << ": " << status.error_message();
    EXPECT_LT(status.error_message().size(), 1024u) << what;
    EXPECT_EQ(status.error_message().find(std::string(300, 'x')), std::string::npos) << what;
  };
  const auto scores = [&](const std::string& id, std::optional<std::int64_t> as_of_seconds) {
    v1::GetCustomerScoresRequest request;
    request.set_customer_id(id);
    if (as_of_seconds) request.mutable_as_of()->set_seconds(*as_of_seconds);
    v1::CustomerScores response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    return stub->GetCustomerScores(&context, request, &response);
  };
  expect_invalid(scores("c1", 100'000'000'000'000'000LL), "as_of 1e17 s");
  expect_invalid(scores("c1", -100'000'000'000'000'000LL), "as_of -1e17 s");
  expect_invalid(scores(long_id, std::nullopt), "100 kB id");
  expect_invalid(scores(not_utf8, std::nullopt), "id not UTF-8");
  {
    v1::BatchGetCustomerScoresRequest request;
    request.add_customer_ids("c1");
    request.add_customer_ids(long_id);
    v1::BatchGetCustomerScoresResponse response;
    grpc::ClientContext context;
    expect_invalid(stub->BatchGetCustomerScores(&context, request, &response), "batch, long id");
  }
  {
    v1::GetCustomerStateRequest request;
    request.set_customer_id(not_utf8);
    v1::CustomerState response;
    grpc::ClientContext context;
    expect_invalid(stub->GetCustomerState(&context, request, &response), "state, not UTF-8");
  }
  {
    v1::ListAtRiskCustomersRequest request;
    request.set_segment("Q");
    v1::ListAtRiskCustomersResponse response;
    grpc::ClientContext context;
    expect_invalid(stub->ListAtRiskCustomers(&context, request, &response), "segment Q");
  }
  {
    v1::WatchAlertsRequest request;
    request.set_segment("Q");
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    auto reader = stub->WatchAlerts(&context, request);
    v1::ChurnAlert alert;
    EXPECT_FALSE(reader->Read(&alert));
    expect_invalid(reader->Finish(), "watch segment Q");
  }
  expect_invalid(Erase(*stub, long_id, kToken, nullptr), "erase, long id");
  expect_invalid(Erase(*stub, not_utf8, kToken, nullptr), "erase, not UTF-8");
  // The good calls are still answered.
  EXPECT_TRUE(scores("c1", kStart + 10 * kDaySeconds).ok());
  EXPECT_EQ(scores("c2", std::nullopt).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();
}

// The broker goes away mid-stream: queries are still answered from the state,
// ingestion reports itself NOT_SERVING in health and in a metric, and when
// the broker is back every touchpoint is applied once.
TEST(BrokerLossTest, QueriesGoOnWhileTheBrokerIsAwayAndNothingIsLostWhenItReturns) {
  if (testing::OnExternalKafka()) GTEST_SKIP() << "takes the broker down: the mock's SetReachable";
  TempDir dir;
  auto broker = testing::TestKafka::Start(ContractTopics(2));
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
  EXPECT_EQ(CheckHealth(channel, "crm.v1.Ingest").value_or(HealthState::kUnknown),
            HealthState::kServing);

  ASSERT_TRUE((*broker)->SetReachable(false).ok());
  ASSERT_TRUE(wait_for([&] {
    return CheckHealth(channel, "crm.v1.Ingest").value_or(HealthState::kUnknown) ==
           HealthState::kNotServing;
  })) << service.process->Log();
  EXPECT_EQ(SumSamples(HttpGet(service.metrics).value_or(""), "crm_input_connected"), 0);
  EXPECT_EQ(CheckHealth(channel).value_or(HealthState::kUnknown),
            HealthState::kServing);  // the server itself still serves
  EXPECT_EQ(ScoresStatus(*stub, "c1"), grpc::StatusCode::OK);
  EXPECT_EQ(applied(), 100u);

  ASSERT_TRUE((*broker)->SetReachable(true).ok());
  ProduceTouchpoints((*broker)->bootstrap(), after);
  ASSERT_TRUE(wait_for([&] { return applied() >= 200; })) << service.process->Log();
  EXPECT_EQ(applied(), 200u);  // each once
  EXPECT_TRUE(wait_for([&] {
    return CheckHealth(channel, "crm.v1.Ingest").value_or(HealthState::kUnknown) ==
           HealthState::kServing;
  }));
  EXPECT_EQ(SumSamples(HttpGet(service.metrics).value_or(""), "crm_input_connected"), 1);
  EXPECT_NE(service.process->Log().find("brokers unreachable"), std::string::npos);
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();
}

// Every kind of bad input, between valid touchpoints: each is rejected with
// its reason, copied to the dead-letter topic with where it came from,
// counted, and passed over (its offset committed); the valid ones around it
// are applied; nothing crashes.
TEST(PoisonInputTest, EveryKindOfBadRecordGoesToTheDeadLetterTopicAndIsPassedOver) {
  TempDir dir;
  auto broker = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  const auto proto = [](v1::Touchpoint m) {
    testing::TestRecord record;
    record.key = m.customer_id();
    record.value = m.SerializeAsString();
    return record;
  };
  const auto bad = [](v1::Touchpoint m, const std::function<void(v1::Touchpoint&)>& spoil) {
    spoil(m);
    return m;
  };
  const v1::Touchpoint good = Event("good", "", 10);
  // {record, the reason expected; "" for a valid one}
  std::vector<std::pair<testing::TestRecord, std::string>> records;
  int valid = 0;
  const auto add_valid = [&] {
    v1::Touchpoint m = good;
    m.set_event_id("ok" + std::to_string(valid++));
    records.emplace_back(proto(m), "");
  };
  const auto add = [&](testing::TestRecord record, const std::string& reason) {
    records.emplace_back(std::move(record), reason);
    add_valid();
  };
  add_valid();
  add({"good", "\xff\xff\xff\xff not protobuf", {}}, "malformed");
  add({"good", R"({"event_id": "j1", "customer_id": )", {{"content-type", "application/json"}}},
      "malformed");
  add({"good", R"({"event_id": "j2", "customer_id": "good", "type": "TELEPATHY"})", {}},
      "malformed");  // an unknown enum name in JSON
  add(proto(bad(good,
                [](auto& m) {
                  m.set_event_id("x1");
                  m.clear_customer_id();
                })),
      "missing_customer_id");
  {
    testing::TestRecord record = proto(bad(good, [](auto& m) { m.set_event_id("x2"); }));
    record.key = "someone-else";
    add(record, "key_mismatch");
  }
  add(proto(bad(good,
                [](auto& m) {
                  m.set_event_id("x3");
                  m.set_channel(static_cast<v1::Channel>(99));
                })),
      "unknown_enum");
  add(proto(bad(good,
                [](auto& m) {
                  m.set_event_id("x4");
                  m.mutable_occurred_at()->set_seconds(-5'364'662'400);
                })),
      "bad_timestamp");  // 1800
  add(proto(bad(good,
                [](auto& m) {
                  m.set_event_id("x5");
                  m.mutable_occurred_at()->set_seconds(7'258'118'400);
                })),
      "bad_timestamp");  // 2200
  add(proto(bad(good,
                [](auto& m) {
                  m.set_event_id("x6");
                  m.set_amount(std::nan(""));
                })),
      "bad_amount");
  add(proto(bad(good,
                [](auto& m) {
                  m.set_event_id("x7");
                  m.set_amount(-5);
                })),
      "bad_amount");
  add(proto(bad(good, [](auto& m) { m.clear_event_id(); })), "missing_event_id");
  add(proto(bad(good,
                [](auto& m) {
                  m.set_event_id("x8");
                  m.set_type(v1::SURVEY);
                  m.set_satisfaction(11);
                })),
      "bad_satisfaction");
  add(proto(bad(good,
                [](auto& m) {
                  m.set_event_id("x9");
                  m.set_type(v1::CONSENT);
                  m.clear_amount();
                })),
      "missing_consent");
  add(proto(bad(good, [](auto& m) { m.set_event_id(std::string(300, 'e')); })), "oversized");
  add(proto(bad(good,
                [](auto& m) {
                  m.set_event_id("x10");
                  (*m.mutable_attributes())["note"] = std::string(1'100'000, 'n');
                })),
      "oversized");  // a record over 1 MiB
  // A burst of the same: counted one by one, logged in part.
  for (int i = 0; i < 100; ++i)
    records.emplace_back(testing::TestRecord{"good", "\xff burst", {}}, "malformed");
  add_valid();
  std::vector<testing::TestRecord> produced;
  for (const auto& [record, reason] : records) produced.push_back(record);
  testing::ProduceRecords((*broker)->bootstrap(), "crm.touchpoints", produced);

  RunningService service =
      StartService((*broker)->bootstrap(), dir.path() / "data", dir.path() / "service.log");
  auto channel = grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials());
  auto stub = v1::ScoringService::NewStub(channel);
  ASSERT_TRUE(WaitApplied(*stub, "good", static_cast<std::uint64_t>(valid)))
      << service.process->Log();
  // Every bad record on the dead-letter topic, with its reason and its origin.
  std::size_t expected_bad = 0;
  for (const auto& [record, reason] : records) expected_bad += !reason.empty();
  std::vector<testing::TestRecord> dead;
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (dead.size() < expected_bad && std::chrono::steady_clock::now() < until) {
    dead = testing::ReadTopic((*broker)->bootstrap(), "crm.touchpoints.dlq", 1, 2s);
  }
  ASSERT_EQ(dead.size(), expected_bad);
  std::map<std::string, int> by_reason;
  for (const testing::TestRecord& record : dead) {
    const std::int64_t offset = std::stoll(record.headers.at("crm.source.offset"));
    ASSERT_GE(offset, 0);
    ASSERT_LT(offset, static_cast<std::int64_t>(records.size()));
    const auto& [original, reason] = records[static_cast<std::size_t>(offset)];
    EXPECT_EQ(record.headers.at("crm.reason"), reason) << "offset " << offset;
    EXPECT_EQ(record.headers.at("crm.source.topic"), testing::TestTopic("crm.touchpoints"));
    EXPECT_EQ(record.headers.at("crm.source.partition"), "0");
    EXPECT_FALSE(record.headers.at("crm.detail").empty());
    if (original.value.size() <= 512 * 1024) {
      EXPECT_EQ(record.value, original.value) << "offset " << offset;  // the original bytes
      EXPECT_FALSE(record.headers.contains("crm.truncated"));
    } else {  // cut, and said so
      EXPECT_EQ(record.value, original.value.substr(0, 512 * 1024)) << "offset " << offset;
      EXPECT_EQ(record.headers.at("crm.truncated"), "true");
      EXPECT_EQ(record.headers.at("crm.original.value.bytes"),
                std::to_string(original.value.size()));
    }
    EXPECT_EQ(record.key, original.key);
    ++by_reason[reason];
  }
  // Counted by reason, passed over (nothing left to read), the service alive.
  const std::string page = HttpGet(service.metrics).value_or("");
  for (const auto& [reason, count] : by_reason) {
    EXPECT_EQ(SumSamples(page, "crm_touchpoints_rejected_total{reason=\"" + reason + "\"}"), count)
        << reason;
  }
  const auto lag_zero = [&] {
    return SumSamples(HttpGet(service.metrics).value_or(""), "crm_consumer_lag") == 0;
  };
  const auto lag_until = std::chrono::steady_clock::now() + 30s;
  while (!lag_zero() && std::chrono::steady_clock::now() < lag_until) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(lag_zero());
  EXPECT_EQ(CheckHealth(channel).value_or(HealthState::kUnknown), HealthState::kServing);
  // The log names the first rejections of a second and counts the rest.
  EXPECT_TRUE(service.process->WaitForLog("more records in the last second", 10s))
      << service.process->Log();
  const std::string log = service.process->Log();
  std::size_t named = 0;
  const std::string rejected = "rejected " + testing::TestTopic("crm.touchpoints") + "[";
  for (std::size_t at = log.find(rejected); at != std::string::npos;
       at = log.find(rejected, at + 1)) {
    ++named;
  }
  EXPECT_LE(named, 40u);  // at most 20 a second, over at most two seconds
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();
  // After a restart nothing is read again: the offsets passed over them.
  service = StartService((*broker)->bootstrap(), dir.path() / "data", dir.path() / "again.log");
  stub = v1::ScoringService::NewStub(
      grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials()));
  ASSERT_TRUE(WaitApplied(*stub, "good", static_cast<std::uint64_t>(valid)));
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(testing::ReadTopic((*broker)->bootstrap(), "crm.touchpoints.dlq", 1, 2s).size(),
            expected_bad);
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();
}

// Every byte of `text` but the line ends is printable: no raw control
// character (an escape code, a forged line) came through.
bool PrintableLines(const std::string& text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c != '\n' && (byte < 0x20 || byte == 0x7f)) return false;
  }
  return true;
}

// The record of the dead-letter topic for source offset `offset`, if any.
std::optional<testing::TestRecord> DeadLetterOf(const std::vector<testing::TestRecord>& dead,
                                                std::int64_t offset) {
  for (const testing::TestRecord& record : dead) {
    const auto it = record.headers.find("crm.source.offset");
    if (it != record.headers.end() && it->second == std::to_string(offset)) return record;
  }
  return std::nullopt;
}

// One JSON record whose parse error is as long as the record (a 600 kB unknown
// field name) once stopped ingestion for good: its error went whole into the
// dead-letter header, the record outgrew the broker's message size, and the
// service exited on it at every restart. Another's error carried a newline and
// an escape code into the text log. Now each detail is one bounded line, the
// records are on the dead-letter topic, and what follows them is applied.
TEST(PoisonInputTest, AHugeOrHostileJsonErrorIsBoundedAndIngestionGoesOn) {
  TempDir dir;
  auto broker = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  const auto valid = [](int n) {
    v1::Touchpoint m = Event("good", "ok" + std::to_string(n), 10);
    return testing::TestRecord{m.customer_id(), m.SerializeAsString(), {}};
  };
  const std::string huge_name(600'000, 'f');
  const std::string huge =
      R"({"event_id": "j1", "customer_id": "good", ")" + huge_name + R"(": 1})";
  const std::string hostile =
      R"({"event_id": "j2", "customer_id": "good", "evil
FAKE ERROR[2J": 1})";
  const std::vector<testing::TestRecord> records = {
      valid(0),
      {"good", huge, {{"content-type", "application/json"}}},
      valid(1),
      {"good", hostile, {}},
      valid(2)};
  testing::ProduceRecords((*broker)->bootstrap(), "crm.touchpoints", records);

  RunningService service =
      StartService((*broker)->bootstrap(), dir.path() / "data", dir.path() / "service.log");
  auto channel = grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials());
  auto stub = v1::ScoringService::NewStub(channel);
  ASSERT_TRUE(WaitApplied(*stub, "good", 3)) << service.process->Log().substr(0, 4096);

  std::vector<testing::TestRecord> dead;
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (dead.size() < 2 && std::chrono::steady_clock::now() < until) {
    dead = testing::ReadTopic((*broker)->bootstrap(), "crm.touchpoints.dlq", 1, 2s);
  }
  ASSERT_EQ(dead.size(), 2u);
  for (const std::int64_t offset : {1, 3}) {
    const auto record = DeadLetterOf(dead, offset);
    ASSERT_TRUE(record.has_value()) << offset;
    EXPECT_EQ(record->headers.at("crm.reason"), "malformed");
    const std::string& detail = record->headers.at("crm.detail");
    EXPECT_LE(detail.size(), 1024u) << offset;
    EXPECT_TRUE(detail.starts_with("invalid JSON touchpoint")) << detail;
    EXPECT_EQ(detail.find('\n'), std::string::npos) << detail;
    EXPECT_TRUE(PrintableLines(detail)) << detail;
    EXPECT_FALSE(record->headers.contains("crm.dead.letter.error")) << "the full record fits";
  }
  const auto first = DeadLetterOf(dead, 1);
  EXPECT_EQ(first->value, huge.substr(0, 512 * 1024));  // the original, cut as before
  EXPECT_EQ(first->headers.at("crm.original.value.bytes"), std::to_string(huge.size()));
  EXPECT_NE(first->headers.at("crm.detail").find("fffff"), std::string::npos);
  // The hostile name is in the detail, escaped.
  const std::string second = DeadLetterOf(dead, 3)->headers.at("crm.detail");
  EXPECT_NE(second.find("evil\\nFAKE ERROR\\x1b[2J\\x07"), std::string::npos) << second;

  const auto lag_zero = [&] {
    return SumSamples(HttpGet(service.metrics).value_or(""), "crm_consumer_lag") == 0;
  };
  const auto lag_until = std::chrono::steady_clock::now() + 30s;
  while (!lag_zero() && std::chrono::steady_clock::now() < lag_until) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(lag_zero());
  const std::string page = HttpGet(service.metrics).value_or("");
  EXPECT_EQ(SumSamples(page, "crm_touchpoints_rejected_total{reason=\"malformed\"}"), 2);
  EXPECT_EQ(SumSamples(page, "crm_dead_letter_failures_total"), 0);
  EXPECT_NE(page.find("crm_dead_letter_failures_total"), std::string::npos);
  EXPECT_EQ(CheckHealth(channel).value_or(HealthState::kUnknown), HealthState::kServing);

  // The log names both rejections on one bounded line each, nothing raw.
  ASSERT_TRUE(service.process->WaitForLog(
      "rejected " + testing::TestTopic("crm.touchpoints") + "[0]@3", 10s));
  const std::string log = service.process->Log();
  EXPECT_TRUE(PrintableLines(log));
  EXPECT_EQ(log.find("\nFAKE ERROR"), std::string::npos);
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_LE(line.size(), 2048u) << line.substr(0, 200);
  }
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log().substr(0, 4096);
}

// A dead-letter record refused for itself (too large for the producer's
// message.max.bytes, or for the broker) is replaced by a minimal one; when
// even that is refused, the record is passed over and counted, never retried.
// A broker that is away is not a refusal: Flush fails and nothing is passed
// over, so the offsets do not move.
TEST(DeadLetterSinkTest, ARecordRefusedForItselfIsSentMinimalOrPassedOverNeverRetried) {
  if (testing::OnExternalKafka()) {
    GTEST_SKIP() << "needs the mock's RefuseProduceRequests and SetReachable";
  }
  auto broker = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  const auto sink_with = [&](const std::string& message_max_bytes) {
    DeadLetterOptions options;
    options.brokers = (*broker)->bootstrap();
    options.flush_timeout_ms = 3000;
    if (!message_max_bytes.empty()) options.properties["message.max.bytes"] = message_max_bytes;
    auto sink = KafkaDeadLetterSink::Create(options);
    EXPECT_TRUE(sink.ok()) << sink.status();
    return std::move(*sink);
  };
  const std::string big(50'000, 'v');
  {  // Over the producer's message.max.bytes: the minimal record fits.
    auto sink = sink_with("20000");
    ASSERT_TRUE(sink->Send(0, 7, "k7", big, Rejection(RejectReason::kOversized, "big")).ok());
    auto passed_over = sink->Flush();
    ASSERT_TRUE(passed_over.ok()) << passed_over.status();
    EXPECT_EQ(*passed_over, 0u);
  }
  {  // Refused by the broker: the minimal record goes after it.
    auto sink = sink_with("");
    (*broker)->RefuseProduceRequests(1);
    ASSERT_TRUE(sink->Send(0, 8, "k8", big, Rejection(RejectReason::kMalformed, "refused")).ok());
    auto passed_over = sink->Flush();
    ASSERT_TRUE(passed_over.ok()) << passed_over.status();
    EXPECT_EQ(*passed_over, 0u);
  }
  {  // Not even the headers fit: passed over, counted; the next record goes.
    auto sink = sink_with("1000");
    const Rejection long_detail(RejectReason::kMalformed, std::string(2000, 'd'));
    ASSERT_TRUE(sink->Send(0, 9, "k9", "tiny", long_detail).ok());
    ASSERT_TRUE(sink->Send(0, 10, "k10", "v", Rejection(RejectReason::kMalformed, "x")).ok());
    auto passed_over = sink->Flush();
    ASSERT_TRUE(passed_over.ok()) << passed_over.status();
    EXPECT_EQ(*passed_over, 1u);
    passed_over = sink->Flush();  // counted once
    ASSERT_TRUE(passed_over.ok()) << passed_over.status();
    EXPECT_EQ(*passed_over, 0u);
  }
  std::vector<testing::TestRecord> dead;
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (dead.size() < 3 && std::chrono::steady_clock::now() < until) {
    dead = testing::ReadTopic((*broker)->bootstrap(), "crm.touchpoints.dlq", 1, 2s);
  }
  ASSERT_EQ(dead.size(), 3u);
  for (const std::int64_t offset : {7, 8}) {
    const auto record = DeadLetterOf(dead, offset);
    ASSERT_TRUE(record.has_value()) << offset;
    EXPECT_EQ(record->key, "k" + std::to_string(offset));
    EXPECT_EQ(record->headers.at("crm.truncated"), "true");
    EXPECT_EQ(record->headers.at("crm.original.value.bytes"), "50000");
    EXPECT_NE(record->headers.at("crm.dead.letter.error").find("too large"), std::string::npos)
        << record->headers.at("crm.dead.letter.error");
    EXPECT_FALSE(record->value.empty());
    EXPECT_LE(record->value.size(), 4096u);
    EXPECT_EQ(record->value, big.substr(0, record->value.size()));
  }
  EXPECT_FALSE(DeadLetterOf(dead, 9).has_value());
  ASSERT_TRUE(DeadLetterOf(dead, 10).has_value());
  EXPECT_EQ(DeadLetterOf(dead, 10)->value, "v");

  // The brokers away: not the record's fault, so Flush fails and nothing is
  // passed over (the caller keeps its offsets).
  {
    auto sink = sink_with("");
    ASSERT_TRUE((*broker)->SetReachable(false).ok());
    ASSERT_TRUE(sink->Send(0, 11, "k11", "v", Rejection(RejectReason::kMalformed, "x")).ok());
    auto passed_over = sink->Flush();
    EXPECT_FALSE(passed_over.ok());
    EXPECT_EQ(passed_over.status().code(), absl::StatusCode::kUnavailable);
    ASSERT_TRUE((*broker)->SetReachable(true).ok());
  }
}

// A data dir the service cannot trust is refused with one clear line and
// exit code 1, never reset; a failed write stops consumption before its
// offsets move, and the restart applies everything exactly once.
TEST(StorageFaultTest, BadDataDirsAreRefusedAndAFailedWriteLosesNothing) {
  TempDir dir;
  auto broker = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  const auto refused = [&](const std::filesystem::path& data, const std::string& why) {
    ChildProcess service(
        CRM_SCORED_BIN,
        testing::WithTestKafka({"--brokers", (*broker)->bootstrap(), "--data-dir", data.string(),
                                "--grpc-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                                "--http-listen", "127.0.0.1:0"}),
        dir.path() / (data.filename().string() + ".log"));
    EXPECT_EQ(service.Wait(30s), 1) << service.Log();
    EXPECT_NE(service.Log().find(why), std::string::npos) << service.Log();
    EXPECT_NE(service.Log().find(data.string()), std::string::npos) << service.Log();
  };
  // Not a directory.
  std::ofstream(dir.path() / "plain-file") << "not a data dir\n";
  refused(dir.path() / "plain-file", "cannot open data dir");
  // A data dir of another format version.
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, (dir.path() / "old-format").string(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "m:format", "1").ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "cgone", "state of format 1").ok());
  }
  refused(dir.path() / "old-format", "has state format 1");
  // A RocksDB database that is not ours.
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, (dir.path() / "foreign").string(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "some", "data").ok());
  }
  refused(dir.path() / "foreign", "not a crm-scored data dir");
  // A corrupt one: its manifest pointer overwritten.
  {
    RunningService service =
        StartService((*broker)->bootstrap(), dir.path() / "corrupt", dir.path() / "c0.log");
    EXPECT_EQ(service.process->Stop(SIGTERM), 0);
  }
  std::ofstream(dir.path() / "corrupt" / "CURRENT", std::ios::trunc) << "MANIFEST-garbage\n";
  refused(dir.path() / "corrupt", "cannot open data dir");

  // A write that fails: consumption stops (exit 1), nothing past the last
  // committed batch counts, and a restart applies every touchpoint once.
  std::vector<v1::Touchpoint> first, second;
  for (int i = 0; i < 50; ++i) {
    first.push_back(Event("c" + std::to_string(i % 5), "f" + std::to_string(i), i));
    second.push_back(Event("c" + std::to_string(i % 5), "s" + std::to_string(i), 50 + i));
  }
  ProduceTouchpoints((*broker)->bootstrap(), first);
  const auto data = dir.path() / "data";
  const auto total = [](v1::ScoringService::Stub& stub) {
    std::uint64_t sum = 0;
    for (int c = 0; c < 5; ++c) {
      v1::GetCustomerStateRequest request;
      request.set_customer_id("c" + std::to_string(c));
      v1::CustomerState state;
      grpc::ClientContext context;
      if (stub.GetCustomerState(&context, request, &state).ok()) sum += state.events_applied();
    }
    return sum;
  };
  {
    RunningService service = StartService((*broker)->bootstrap(), data, dir.path() / "w1.log");
    auto stub = v1::ScoringService::NewStub(
        grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials()));
    ASSERT_TRUE(WaitApplied(*stub, "c4", 10));
    EXPECT_EQ(total(*stub), 50u);
    EXPECT_EQ(service.process->Stop(SIGTERM), 0);
  }
  ProduceTouchpoints((*broker)->bootstrap(), second);
  {
    std::vector<std::string> args = {"CRM_FAIL_POINTS=commit-error",
                                     CRM_SCORED_BIN,
                                     "--brokers",
                                     (*broker)->bootstrap(),
                                     "--data-dir",
                                     data.string(),
                                     "--grpc-listen",
                                     "127.0.0.1:0",
                                     "--metrics-listen",
                                     "127.0.0.1:0",
                                     "--http-listen",
                                     "127.0.0.1:0",
                                     "--clock",
                                     "event",
                                     "--group",
                                     "hardening-test",
                                     "--kafka",
                                     "session.timeout.ms=6000",
                                     "--kafka",
                                     "fetch.wait.max.ms=10"};
    ChildProcess failing("/usr/bin/env", testing::WithTestKafka(args), dir.path() / "w2.log");
    EXPECT_EQ(failing.Wait(60s), 1) << failing.Log();
    EXPECT_NE(
        failing.Log().find("ingestion stopped: committing state batch: injected write failure"),
        std::string::npos)
        << failing.Log();
  }
  RunningService service = StartService((*broker)->bootstrap(), data, dir.path() / "w3.log");
  auto stub = v1::ScoringService::NewStub(
      grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials()));
  ASSERT_TRUE(WaitApplied(*stub, "c4", 20));
  EXPECT_EQ(total(*stub), 100u);
  EXPECT_EQ(service.process->Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace crm
