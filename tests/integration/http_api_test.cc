// The HTTP/JSON API against the real service: every route, its errors and
// its roles, the answers equal to gRPC's, and the alert stream live.

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "crm/v1/scoring.grpc.pb.h"
#include "tests/integration/http_client.h"
#include "tests/integration/service_process.h"
#include "tests/integration/test_cluster.h"
#include "tests/integration/touchpoint_producer.h"

namespace crm {
namespace {

using namespace std::chrono_literals;
using testing::EventStream;
using testing::HttpAnswer;
using testing::HttpCall;

constexpr char kAdminToken[] = "0123456789abcdef-http-admin";
constexpr char kReaderToken[] = "0123456789abcdef-http-reader";

template <typename Message>
Message FromJson(const std::string& json) {
  Message message;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &message);
  EXPECT_TRUE(status.ok()) << status.message() << " in " << json;
  return message;
}

// The code of an error answer ({"code": …, "message": …}).
std::string CodeOf(const HttpAnswer& answer) {
  google::protobuf::Struct body = FromJson<google::protobuf::Struct>(answer.body);
  EXPECT_TRUE(body.fields().contains("message")) << answer.body;
  return body.fields().contains("code") ? body.fields().at("code").string_value() : "";
}

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kafka = testing::TestKafka::Start(ContractTopics(1));
    ASSERT_TRUE(kafka.ok()) << kafka.status();
    kafka_ = std::move(*kafka);
    std::ofstream(dir_.path() / "admins") << "ops:" << kAdminToken << "\n";
    std::ofstream(dir_.path() / "readers") << "desk:" << kReaderToken << "\n";
  }

  // The service with `extra` flags; its HTTP address.
  std::string Start(std::vector<std::string> extra) {
    extra.insert(extra.end(), {"--admin-token-file", (dir_.path() / "admins").string(),
                               "--reader-token-file", (dir_.path() / "readers").string()});
    service_ = testing::StartService(kafka_->bootstrap(), dir_.path() / "data",
                                     dir_.path() / "service.log", extra, "http-test");
    const auto port = service_.process->WaitForLog("HTTP listening on 127.0.0.1:", 30s);
    EXPECT_TRUE(port) << service_.process->Log();
    stub_ = v1::ScoringService::NewStub(
        grpc::CreateChannel(service_.grpc, grpc::InsecureChannelCredentials()));
    return port ? "127.0.0.1:" + port->substr(0, port->find_first_not_of("0123456789")) : "";
  }

  // Reads by gRPC, with the reader's token.
  static void AsReader(grpc::ClientContext& context) {
    context.AddMetadata("authorization", std::string("Bearer ") + kReaderToken);
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::TestKafka> kafka_;
  testing::RunningService service_;
  std::unique_ptr<v1::ScoringService::Stub> stub_;
};

TEST_F(HttpApiTest, EveryRouteAnswersAsGrpcDoesWithTheSameRolesAndErrors) {
  const testing::SilentBuyers buyers = testing::VipAndSmall();
  testing::ProduceTouchpoints(kafka_->bootstrap(), buyers.history);
  const std::string http = Start({"--grpc-auth", "all"});
  ASSERT_FALSE(http.empty());
  ASSERT_TRUE(testing::WaitApplied(*stub_, "vip", 20, AsReader));

  // Probes need no credentials.
  EXPECT_EQ(HttpCall(http, "GET", "/healthz").status, 200);
  EXPECT_EQ(HttpCall(http, "GET", "/readyz").status, 200);

  // Scores: the same message as gRPC's, as JSON.
  const HttpAnswer scores = HttpCall(http, "GET", "/v1/customers/vip/scores", kReaderToken);
  ASSERT_EQ(scores.status, 200) << scores.body;
  EXPECT_EQ(scores.headers.at("content-type"), "application/json");
  EXPECT_NE(scores.body.find(R"("valueAtRisk":)"), std::string::npos) << scores.body;
  const auto from_http = FromJson<v1::CustomerScores>(scores.body);
  v1::CustomerScores from_grpc;
  {
    grpc::ClientContext context;
    AsReader(context);
    v1::GetCustomerScoresRequest request;
    request.set_customer_id("vip");
    ASSERT_TRUE(stub_->GetCustomerScores(&context, request, &from_grpc).ok());
  }
  // Both on the event clock, nothing applied between them: the same answer.
  EXPECT_EQ(from_http.as_of().seconds(), from_grpc.as_of().seconds());
  EXPECT_EQ(from_http.churn(), from_grpc.churn());
  EXPECT_EQ(from_http.value_at_risk(), from_grpc.value_at_risk());
  EXPECT_EQ(from_http.events_applied(), from_grpc.events_applied());
  EXPECT_EQ(from_http.segment(), from_grpc.segment());
  EXPECT_EQ(from_http.reasons_size(), from_grpc.reasons_size());
  // as_of in RFC 3339.
  const HttpAnswer then =
      HttpCall(http, "GET", "/v1/customers/vip/scores?as_of=2025-06-01T00:00:00Z", kReaderToken);
  ASSERT_EQ(then.status, 200) << then.body;
  EXPECT_EQ(FromJson<v1::CustomerScores>(then.body).as_of().seconds(), 1'748'736'000);

  // State, batch, at-risk.
  const HttpAnswer state = HttpCall(http, "GET", "/v1/customers/vip/state", kReaderToken);
  ASSERT_EQ(state.status, 200) << state.body;
  EXPECT_EQ(FromJson<v1::CustomerState>(state.body).purchases(), 20u);
  const HttpAnswer batch = HttpCall(http, "POST", "/v1/customers:batchGetScores", kReaderToken,
                                    R"({"customerIds": ["vip", "nobody", "small"]})");
  ASSERT_EQ(batch.status, 200) << batch.body;
  const auto batch_answer = FromJson<v1::BatchGetCustomerScoresResponse>(batch.body);
  ASSERT_EQ(batch_answer.scores_size(), 2);
  EXPECT_EQ(batch_answer.scores(0).customer_id(), "vip");
  ASSERT_EQ(batch_answer.not_found_size(), 1);
  EXPECT_EQ(batch_answer.not_found(0), "nobody");
  const HttpAnswer at_risk = HttpCall(
      http, "GET", "/v1/at-risk?top_n=5&order_by=AT_RISK_ORDER_VALUE_AT_RISK&include_lost=true",
      kReaderToken);
  ASSERT_EQ(at_risk.status, 200) << at_risk.body;
  EXPECT_EQ(FromJson<v1::ListAtRiskCustomersResponse>(at_risk.body).partitions_size(), 1);

  // Roles: no token, a wrong one, a reader's erasure.
  const HttpAnswer anonymous = HttpCall(http, "GET", "/v1/customers/vip/scores");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(CodeOf(anonymous), "UNAUTHENTICATED");
  EXPECT_EQ(anonymous.headers.at("www-authenticate"), "Bearer");
  EXPECT_EQ(CodeOf(HttpCall(http, "GET", "/v1/at-risk", "not-a-token-of-ours")),
            "PERMISSION_DENIED");
  EXPECT_EQ(CodeOf(HttpCall(http, "GET", "/v1/customers/vip/scores", "not-a-token-of-ours")),
            "PERMISSION_DENIED");
  EXPECT_EQ(CodeOf(HttpCall(http, "GET", "/v1/customers/vip/state")), "UNAUTHENTICATED");
  // An admin reads too.
  EXPECT_EQ(HttpCall(http, "GET", "/v1/customers/vip/scores", kAdminToken).status, 200);
  const HttpAnswer reader_erases = HttpCall(http, "DELETE", "/v1/customers/small", kReaderToken);
  EXPECT_EQ(reader_erases.status, 403);
  EXPECT_EQ(CodeOf(reader_erases), "PERMISSION_DENIED");
  const HttpAnswer watch_anonymous = HttpCall(http, "GET", "/v1/alerts:watch");
  EXPECT_EQ(watch_anonymous.status, 401) << watch_anonymous.body;

  // Bad input: a clear error with its HTTP status, nothing echoed unbounded.
  const std::string long_id(300, 'x');
  std::string many_parameters = "/v1/at-risk?top_n=1";
  for (int i = 0; i < 40; ++i) many_parameters += "&segment=A";
  const std::vector<std::tuple<std::string, std::string, int, std::string>> bad = {
      {"GET", "/v1/customers/vip/scores?as_of=yesterday", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/customers/vip/scores?as_of=0001-01-01T00:00:00Z", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/customers/" + long_id + "/scores", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/customers/%FF%FE/scores", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/customers/vip/scores?colour=red", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/at-risk?top_n=many", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/at-risk?top_n=5000", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/at-risk?order_by=AT_RISK_ORDER_LOUDEST", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/at-risk?value_quadrant=SHINY", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/at-risk?include_lost=perhaps", 400, "INVALID_ARGUMENT"},
      {"GET", many_parameters, 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/alerts:watch?min_churn=high", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/alerts:watch?action=PANIC", 400, "INVALID_ARGUMENT"},
      {"POST", "/v1/customers:batchGetScores", 400, "INVALID_ARGUMENT"},  // no body
      {"GET", "/v1/customers/nobody/scores", 404, "NOT_FOUND"},
      {"GET", "/v1/customers/nobody/state", 404, "NOT_FOUND"},
      {"GET", "/v1/no-such-route", 404, "NOT_FOUND"},
      {"PUT", "/v1/customers/vip/scores", 405, "UNIMPLEMENTED"},
      {"GET", "/v1/customers:batchGetScores", 405, "UNIMPLEMENTED"},
  };
  for (const auto& [method, target, status, code] : bad) {
    const HttpAnswer answer = HttpCall(http, method, target, kReaderToken);
    EXPECT_EQ(answer.status, status) << method << " " << target << ": " << answer.body;
    EXPECT_EQ(CodeOf(answer), code) << method << " " << target;
    EXPECT_LT(answer.body.size(), 1200u) << target;
  }
  for (const std::string& body : {std::string("not json"), std::string(R"({"ids": ["vip"]})"),
                                  std::string(R"({"customerIds": ["vip"], "asOf": "never"})")}) {
    const HttpAnswer answer =
        HttpCall(http, "POST", "/v1/customers:batchGetScores", kReaderToken, body);
    EXPECT_EQ(answer.status, 400) << body << ": " << answer.body;
  }
  const HttpAnswer huge = HttpCall(http, "POST", "/v1/customers:batchGetScores", kReaderToken,
                                   std::string(2 << 20, ' '));
  EXPECT_EQ(huge.status, 429) << huge.body;

  // The admin erases; the customer is then gone from every route.
  const HttpAnswer erased = HttpCall(http, "DELETE", "/v1/customers/small", kAdminToken);
  ASSERT_EQ(erased.status, 200) << erased.body;
  EXPECT_TRUE(FromJson<v1::EraseCustomerResponse>(erased.body).erased());
  EXPECT_EQ(HttpCall(http, "GET", "/v1/customers/small/scores", kReaderToken).status, 404);
  EXPECT_EQ(HttpCall(http, "GET", "/v1/customers/small/state", kReaderToken).status, 404);

  // No secret is ever written where it could leak.
  const std::string log = service_.process->Log();
  EXPECT_EQ(log.find(kAdminToken), std::string::npos);
  EXPECT_EQ(log.find(kReaderToken), std::string::npos);
  EXPECT_EQ(service_.process->Stop(SIGTERM), 0) << log;
}

// Waits until the stream's alerts, parsed, satisfy `done`; false when the
// stream stalls or ends first.
bool WaitForAlerts(EventStream& stream,
                   const std::function<bool(const std::vector<v1::ChurnAlert>&)>& done) {
  for (std::size_t want = 1;; ++want) {
    const std::vector<std::string> events = stream.WaitForEvents(want);
    std::vector<v1::ChurnAlert> alerts;
    for (const std::string& event : events) alerts.push_back(FromJson<v1::ChurnAlert>(event));
    if (done(alerts)) return true;
    if (events.size() < want) return false;  // stalled a minute, or ended
  }
}

TEST_F(HttpApiTest, TheAlertStreamShowsRaisesAndClearsLiveAndIsBoundedLikeGrpc) {
  const testing::SilentBuyers buyers = testing::VipAndSmall();
  testing::ProduceTouchpoints(kafka_->bootstrap(), buyers.history);
  const std::string http = Start({"--max-watchers", "1"});
  ASSERT_FALSE(http.empty());
  ASSERT_TRUE(testing::WaitApplied(*stub_, "vip", 20));

  // Without --grpc-auth all, reads are open over HTTP as over gRPC; erasure is not.
  EXPECT_EQ(HttpCall(http, "GET", "/v1/customers/vip/scores").status, 200);
  EXPECT_EQ(HttpCall(http, "DELETE", "/v1/customers/vip").status, 401);

  EventStream stream(http, "/v1/alerts:watch?include_cleared=true");
  ASSERT_EQ(stream.answer().status, 200);
  EXPECT_EQ(stream.answer().headers.at("content-type"), "text/event-stream");
  // The one stream --max-watchers allows is taken: the next is refused as gRPC refuses it.
  const HttpAnswer second = HttpCall(http, "GET", "/v1/alerts:watch");
  EXPECT_EQ(second.status, 429) << second.body;
  EXPECT_EQ(CodeOf(second), "RESOURCE_EXHAUSTED");

  // The silence raises vip's alert; a purchase clears it.
  testing::ProduceTouchpoints(kafka_->bootstrap(), buyers.ticker);
  const auto raised = [](const std::vector<v1::ChurnAlert>& alerts) {
    return std::any_of(alerts.begin(), alerts.end(), [](const v1::ChurnAlert& alert) {
      return alert.customer_id() == "vip" && alert.transition() == v1::ALERT_TRANSITION_RAISED;
    });
  };
  ASSERT_TRUE(WaitForAlerts(stream, raised)) << stream.text();
  // The scores recommend what the alert did, at the moment it was raised
  // (by now the silent customer may be lost: REACTIVATE).
  v1::ChurnAlert raise;
  for (const std::string& event : stream.WaitForEvents(1)) {
    const auto alert = FromJson<v1::ChurnAlert>(event);
    if (alert.customer_id() == "vip") raise = alert;
  }
  const auto vip = FromJson<v1::CustomerScores>(
      HttpCall(http, "GET",
               "/v1/customers/vip/scores?as_of=" +
                   google::protobuf::util::TimeUtil::ToString(raise.raised_at()))
          .body);
  EXPECT_EQ(raise.recommended_action(), "WIN_BACK");
  EXPECT_EQ(vip.recommended_action(), raise.recommended_action());
  EXPECT_EQ(vip.recommended_channel(), raise.recommended_channel());
  testing::ProduceTouchpoints(kafka_->bootstrap(),
                              {testing::DayTouchpoint("vip", "vip-back", 501, v1::PURCHASE, 400)});
  const auto cleared = [](const std::vector<v1::ChurnAlert>& alerts) {
    return std::any_of(alerts.begin(), alerts.end(), [](const v1::ChurnAlert& alert) {
      return alert.customer_id() == "vip" && alert.transition() == v1::ALERT_TRANSITION_CLEARED &&
             alert.cleared_reason() == "PURCHASED";
    });
  };
  ASSERT_TRUE(WaitForAlerts(stream, cleared)) << stream.text();

  // Stopping the service ends the stream with its reason, and the process cleanly.
  EXPECT_EQ(service_.process->Stop(SIGTERM), 0) << service_.process->Log();
  stream.WaitForEvents(1'000'000);
  EXPECT_TRUE(stream.ended());
}

}  // namespace
}  // namespace crm
