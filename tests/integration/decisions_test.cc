// Issue 19's scenario on the real stack (crm-scored on the event clock, the
// built-in model): a valuable customer leaving, a cheap one leaving, a
// long-lost one, a one-time buyer, a prospect and a customer who comes back,
// and what the at-risk list, the scores and the alerts topic say of them.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "core/alerts.h"
#include "crm/v1/scoring.grpc.pb.h"
#include "tests/integration/alert_topic.h"
#include "tests/integration/service_process.h"
#include "tests/integration/test_cluster.h"
#include "tests/integration/touchpoint_producer.h"

namespace crm {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::DayTouchpoint;
using testing::TempDir;

v1::Touchpoint Consent(const std::string& customer, int day, v1::Channel channel) {
  v1::Touchpoint consent = DayTouchpoint(customer, customer + "-consent-" + std::to_string(channel),
                                         day, v1::CONSENT, 0);
  consent.set_channel(channel);
  consent.set_consent_granted(true);
  return consent;
}

// Purchases of `amount` every 14 days from `first` to `last`.
void Fortnightly(const std::string& customer, int first, int last, double amount,
                 std::vector<v1::Touchpoint>& out) {
  for (int day = first; day <= last; day += 14) {
    out.push_back(
        DayTouchpoint(customer, customer + std::to_string(day), day, v1::PURCHASE, amount));
  }
}

std::vector<std::string> IdsOf(const v1::ListAtRiskCustomersResponse& response) {
  std::vector<std::string> ids;
  for (const v1::CustomerScores& s : response.customers()) ids.push_back(s.customer_id());
  return ids;
}

bool Has(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

TEST(DecisionsTest, ValueAtRiskLeavingFromLostProspectsAndRecoveriesReadRight) {
  TempDir dir;
  auto broker = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string brokers = (*broker)->bootstrap();

  std::vector<v1::Touchpoint> history;
  history.push_back(Consent("valuable", 0, v1::EMAIL));
  history.push_back(Consent("valuable", 0, v1::PHONE));
  history.push_back(Consent("cheap", 0, v1::EMAIL));
  history.push_back(Consent("lost", 0, v1::EMAIL));
  history.push_back(Consent("comeback", 0, v1::EMAIL));
  Fortnightly("comeback", 0, 266, 100, history);  // silent from day 266…
  Fortnightly("lost", 0, 42, 40, history);        // four purchases, then a year of silence
  history.push_back(DayTouchpoint("once", "once-1", 50, v1::PURCHASE, 40));
  history.push_back(DayTouchpoint("prospect", "prospect-1", 100, v1::CONTACT, 0));
  history.push_back(DayTouchpoint("prospect", "prospect-2", 300, v1::CONTACT, 0));
  Fortnightly("valuable", 192, 360, 400, history);  // leaving: silent from day 360
  Fortnightly("cheap", 192, 360, 5, history);
  std::vector<v1::Touchpoint> ticker;  // time moves on, to day 430
  for (int day = 400; day <= 430; day += 2) {
    ticker.push_back(DayTouchpoint("ticker", "t" + std::to_string(day), day, v1::CONTACT, 0));
    // …and buys again on day 420.
    if (day == 420) ticker.push_back(DayTouchpoint("comeback", "back", 420, v1::PURCHASE, 100));
  }
  testing::ProduceTouchpoints(brokers, history);
  testing::ProduceTouchpoints(brokers, ticker);

  ChildProcess service(
      CRM_SCORED_BIN,
      testing::EventClockServiceArgs(brokers, (dir.path() / "data").string(), "decisions-test"),
      dir.path() / "service.log");
  const auto grpc_port = service.WaitForLog("gRPC listening on 127.0.0.1:", 30s);
  ASSERT_TRUE(grpc_port) << service.Log();
  auto stub = v1::ScoringService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + *grpc_port, grpc::InsecureChannelCredentials()));
  const auto applied = [&](const std::string& id) -> std::uint64_t {
    v1::GetCustomerStateRequest request;
    request.set_customer_id(id);
    v1::CustomerState state;
    grpc::ClientContext context;
    return stub->GetCustomerState(&context, request, &state).ok() ? state.events_applied() : 0;
  };
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (applied("ticker") < 16 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(applied("ticker"), 16u) << service.Log();

  // The one who came back: raised while silent, cleared by the purchase.
  const std::string comeback_alert = AlertId(CustomerId("comeback"), 1);
  ASSERT_TRUE(
      testing::WaitForTransitionOnTopic(brokers, comeback_alert, v1::ALERT_TRANSITION_CLEARED))
      << service.Log();

  const auto scores_of = [&](const std::string& id) {
    v1::GetCustomerScoresRequest request;
    request.set_customer_id(id);
    v1::CustomerScores scores;
    grpc::ClientContext context;
    const grpc::Status status = stub->GetCustomerScores(&context, request, &scores);
    EXPECT_TRUE(status.ok()) << id << ": " << status.error_message();
    return scores;
  };
  const auto at_risk = [&](v1::AtRiskOrder order, bool include_lost) {
    v1::ListAtRiskCustomersRequest request;
    request.set_order_by(order);
    request.set_include_lost(include_lost);
    v1::ListAtRiskCustomersResponse response;
    grpc::ClientContext context;
    const grpc::Status status = stub->ListAtRiskCustomers(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  };
  const v1::CustomerScores valuable = scores_of("valuable");
  const v1::CustomerScores cheap = scores_of("cheap");
  const v1::CustomerScores lost = scores_of("lost");
  const v1::CustomerScores once = scores_of("once");
  const v1::CustomerScores prospect = scores_of("prospect");
  const std::string picture =
      "valuable: " + valuable.ShortDebugString() + "\ncheap: " + cheap.ShortDebugString() +
      "\nlost: " + lost.ShortDebugString() + "\nonce: " + once.ShortDebugString();

  // The valuable one above the cheap one, by value at risk.
  const v1::ListAtRiskCustomersResponse by_value = at_risk(v1::AT_RISK_ORDER_VALUE_AT_RISK, false);
  const std::vector<std::string> by_value_ids = IdsOf(by_value);
  ASSERT_GE(by_value_ids.size(), 2u) << picture;
  EXPECT_EQ(by_value_ids[0], "valuable") << picture;
  EXPECT_EQ(by_value_ids[1], "cheap") << picture;
  EXPECT_GT(valuable.value_at_risk(), cheap.value_at_risk());
  EXPECT_EQ(valuable.lifecycle_stage(), "DECLINE") << picture;
  // The long-lost one is LOST and out of the default list, in on request.
  EXPECT_EQ(lost.lifecycle_stage(), "LOST") << picture;
  const std::vector<std::string> by_churn = IdsOf(at_risk(v1::AT_RISK_ORDER_UNSPECIFIED, false));
  EXPECT_FALSE(Has(by_churn, "lost"));
  EXPECT_FALSE(Has(by_value_ids, "lost"));
  EXPECT_TRUE(Has(IdsOf(at_risk(v1::AT_RISK_ORDER_CHURN, true)), "lost"));
  // A one-time buyer a year on is not "surely alive".
  EXPECT_LT(once.p_alive(), 0.5) << picture;
  // The prospect has no churn and is in no list.
  EXPECT_FALSE(prospect.has_churn());
  EXPECT_EQ(prospect.value_at_risk(), 0);
  EXPECT_FALSE(Has(by_churn, "prospect"));
  EXPECT_FALSE(Has(IdsOf(at_risk(v1::AT_RISK_ORDER_CHURN, true)), "prospect"));

  // The topic: RAISED then CLEARED for the one who came back, under one id;
  // only reasons that raise the risk; nothing marked for marketing that the
  // policy lets go.
  const std::vector<v1::ChurnAlert> alerts = testing::ReadAlerts(brokers, 5s);
  std::vector<v1::AlertTransition> comeback;
  for (const v1::ChurnAlert& alert : alerts) {
    SCOPED_TRACE(alert.ShortDebugString());
    EXPECT_NE(alert.customer_id(), "prospect");
    if (alert.alert_id() == comeback_alert) comeback.push_back(alert.transition());
    for (const v1::Reason& reason : alert.reasons()) EXPECT_GT(reason.weight(), 0);
    if (alert.recommended_action() == "NONE") {
      EXPECT_FALSE(alert.for_marketing());
    }
  }
  EXPECT_EQ(comeback, (std::vector<v1::AlertTransition>{v1::ALERT_TRANSITION_RAISED,
                                                        v1::ALERT_TRANSITION_CLEARED}));
  EXPECT_EQ(service.Stop(SIGTERM), 0) << service.Log();
}

}  // namespace
}  // namespace crm
