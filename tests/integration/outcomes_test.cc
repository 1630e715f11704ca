// The campaign loop on the real stack (the mock Kafka cluster, crm-scored on
// RocksDB): steady buyers go silent and are alerted; a simulated campaign
// tool contacts the treated ones, and customers come back with a true
// effect the test knows (treated 0.6, control 0.2); GetAlertOutcomes, over
// gRPC and HTTP, counts every contact and purchase sent and measures an
// uplift whose interval covers the truth.

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/alerts.h"
#include "core/uplift.h"
#include "crm/v1/scoring.grpc.pb.h"
#include "tests/integration/alert_topic.h"
#include "tests/integration/http_client.h"
#include "tests/integration/service_process.h"
#include "tests/integration/test_cluster.h"
#include "tests/integration/touchpoint_producer.h"
#include "tools/scrape.h"

namespace crm {
namespace {

using namespace std::chrono_literals;
using testing::kDaySeconds;

constexpr int kCustomers = 260;
constexpr double kControlShare = 0.3;
constexpr double kTreatedReturn = 0.6;
constexpr double kControlReturn = 0.2;
constexpr int kTickerEnd = 400;  // the partition's time once every customer was alerted

std::string Customer(int i) { return "c" + std::to_string(i); }

// Every customer consents to e-mail, then buys every 14 days, days 0 to 266,
// all in time order (one partition: its time is the latest event's).
std::vector<v1::Touchpoint> Histories() {
  std::vector<v1::Touchpoint> history;
  for (int c = 0; c < kCustomers; ++c) {
    v1::Touchpoint consent =
        testing::DayTouchpoint(Customer(c), Customer(c) + "-ok", 0, v1::CONSENT);
    consent.set_channel(v1::EMAIL);
    consent.set_consent_granted(true);
    history.push_back(consent);
  }
  for (int i = 0; i < 20; ++i) {
    for (int c = 0; c < kCustomers; ++c) {
      history.push_back(testing::DayTouchpoint(Customer(c), Customer(c) + "-" + std::to_string(i),
                                               14 * i, v1::PURCHASE, 400));
    }
  }
  return history;
}

// A touchpoint of `customer` `days` after `alert` was raised.
v1::Touchpoint After(const v1::ChurnAlert& alert, const std::string& id, double days,
                     v1::TouchpointType type) {
  v1::Touchpoint tp = testing::DayTouchpoint(alert.customer_id(), id, 0, type);
  const std::int64_t at =
      alert.raised_at().seconds() + static_cast<std::int64_t>(days * kDaySeconds);
  tp.mutable_occurred_at()->set_seconds(at);
  return tp;
}

// What the campaign tool sent, and so what the outcomes must say.
struct Sent {
  v1::OutcomeGroup treated, control;
  std::vector<v1::Touchpoint> touchpoints;
};

// The campaign tool: a contact for each treated alert (for marketing), and
// a purchase within the window with the group's return probability; some
// customers also buy after the window, which no outcome counts.
Sent Campaign(const std::vector<v1::ChurnAlert>& alerts, std::mt19937& random) {
  Sent sent;
  std::bernoulli_distribution treated_back(kTreatedReturn), control_back(kControlReturn);
  for (const v1::ChurnAlert& alert : alerts) {
    v1::OutcomeGroup& group = alert.control() ? sent.control : sent.treated;
    group.set_alerts(group.alerts() + 1);
    if (alert.for_marketing()) {
      v1::Touchpoint contact = After(alert, alert.alert_id() + "-mail", 1, v1::CAMPAIGN_CONTACT);
      contact.set_channel(v1::EMAIL);
      contact.set_campaign_id(alert.alert_id());
      sent.touchpoints.push_back(contact);
      group.set_contacted(group.contacted() + 1);
    }
    if (alert.control() ? control_back(random) : treated_back(random)) {
      const double amount = 20 + static_cast<double>(random() % 200);
      sent.touchpoints.push_back(After(alert, alert.alert_id() + "-back",
                                       2 + static_cast<double>(random() % 25), v1::PURCHASE));
      sent.touchpoints.back().set_amount(amount);
      group.set_recovered(group.recovered() + 1);
      group.set_revenue(group.revenue() + amount);
    }
    if (random() % 5 == 0) {  // past the 30-day window: not the alert's
      sent.touchpoints.push_back(After(alert, alert.alert_id() + "-late", 31, v1::PURCHASE));
    }
  }
  return sent;
}

// The first alert of each customer, once every customer has one on the topic.
std::vector<v1::ChurnAlert> FirstAlerts(const std::string& brokers) {
  std::map<std::string, v1::ChurnAlert> first;
  const auto deadline = std::chrono::steady_clock::now() + 90s;
  while (first.size() < kCustomers && std::chrono::steady_clock::now() < deadline) {
    for (const v1::ChurnAlert& alert : testing::ReadAlerts(brokers, 2s)) {
      if (alert.transition() == v1::ALERT_TRANSITION_RAISED)
        first.emplace(alert.customer_id(), alert);
    }
  }
  std::vector<v1::ChurnAlert> alerts;
  for (auto& [customer, alert] : first) alerts.push_back(std::move(alert));
  return alerts;
}

TEST(OutcomesTest, ASimulatedCampaignsUpliftIsMeasuredAndItsIntervalCoversTheTruth) {
  auto kafka = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(kafka.ok()) << kafka.status();
  const std::string brokers = (*kafka)->bootstrap();
  testing::ProduceTouchpoints(brokers, Histories());
  testing::TempDir dir;
  testing::RunningService service =
      testing::StartService(brokers, dir.path() / "data", dir.path() / "service.log",
                            {"--control-share", std::to_string(kControlShare)}, "outcomes-test");
  const std::string& http = service.http;
  auto stub = v1::ScoringService::NewStub(
      grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials()));
  ASSERT_TRUE(testing::WaitApplied(*stub, Customer(kCustomers - 1), 21));

  // Another customer's contacts move the partition's time on: all go silent.
  std::vector<v1::Touchpoint> ticker;
  for (int day = 268; day <= kTickerEnd; day += 2) {
    ticker.push_back(testing::DayTouchpoint("ticker", "t" + std::to_string(day), day, v1::CONTACT));
  }
  testing::ProduceTouchpoints(brokers, ticker);
  const std::vector<v1::ChurnAlert> alerts = FirstAlerts(brokers);
  ASSERT_EQ(alerts.size(), static_cast<std::size_t>(kCustomers)) << service.process->Log();
  std::int64_t last_raised = 0;
  int control = 0;
  for (const v1::ChurnAlert& alert : alerts) {
    SCOPED_TRACE(alert.alert_id());
    // The control group is the alert id's: the same on every instance and restart.
    EXPECT_EQ(alert.control(), InControlGroup(alert.alert_id(), kControlShare));
    EXPECT_NE(alert.control(), alert.for_marketing());  // each alert in one group
    control += alert.control() ? 1 : 0;
    last_raised = std::max(last_raised, alert.raised_at().seconds());
  }
  // About the share configured: within four standard deviations.
  const double sd = std::sqrt(kCustomers * kControlShare * (1 - kControlShare));
  EXPECT_NEAR(control, kCustomers * kControlShare, 4 * sd);
  ASSERT_LT(last_raised, testing::kTestEpochSeconds + kTickerEnd * kDaySeconds);

  std::mt19937 random(20261204);  // fixed: the interval's coverage is the estimator test's
  const Sent sent = Campaign(alerts, random);
  testing::ProduceTouchpoints(brokers, sent.touchpoints);

  // The first wave's alerts: customers may be alerted again once time moves on.
  v1::GetAlertOutcomesRequest request;
  request.mutable_until()->set_seconds(last_raised + 1);
  const auto outcomes = [&] {
    grpc::ClientContext context;
    v1::AlertOutcomes response;
    EXPECT_TRUE(stub->GetAlertOutcomes(&context, request, &response).ok());
    return response;
  };
  const auto same = [](const v1::OutcomeGroup& a, const v1::OutcomeGroup& b) {
    return a.alerts() == b.alerts() && a.contacted() == b.contacted() &&
           a.recovered() == b.recovered() && std::abs(a.revenue() - b.revenue()) < 1e-6;
  };
  v1::AlertOutcomes measured = outcomes();
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!(same(measured.treated(), sent.treated) && same(measured.control(), sent.control)) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
    measured = outcomes();
  }
  EXPECT_GE(sent.treated.alerts() + sent.control.alerts(), 200u);
  EXPECT_EQ(measured.treated().DebugString(), sent.treated.DebugString());
  EXPECT_EQ(measured.control().DebugString(), sent.control.DebugString());
  EXPECT_EQ(measured.control().contacted(), 0u);  // the control group is never contacted
  EXPECT_EQ(measured.outcome_window_days(), 30u);
  ASSERT_TRUE(measured.uplift_known());
  const double truth = kTreatedReturn - kControlReturn;
  EXPECT_LE(measured.uplift_low(), truth);
  EXPECT_GE(measured.uplift_high(), truth);
  EXPECT_GT(measured.uplift_low(), 0);  // a real effect of this size is seen at this scale
  const double control_mean = sent.control.revenue() / sent.control.alerts();
  EXPECT_NEAR(measured.incremental_revenue(),
              sent.treated.revenue() - control_mean * sent.treated.alerts(), 1e-6);

  // Prometheus counts the same as they happen: every alert followed up (some
  // raised again since, past `until`), every contact, recovery and amount.
  const std::string page = HttpGet(service.metrics).value_or("");
  for (const auto& [group, sent_group] :
       {std::pair{"treated", &sent.treated}, std::pair{"control", &sent.control}}) {
    SCOPED_TRACE(group);
    const std::string series =
        std::string("crm_alert_outcomes_total{group=\"") + group + "\",outcome=\"";
    EXPECT_GE(SumSamples(page, series + "alerted\"}"), sent_group->alerts()) << page;
    EXPECT_EQ(SumSamples(page, series + "contacted\"}"), sent_group->contacted()) << page;
    EXPECT_EQ(SumSamples(page, series + "recovered\"}"), sent_group->recovered()) << page;
    EXPECT_NEAR(
        SumSamples(page, std::string("crm_alert_outcome_revenue_total{group=\"") + group + "\"}"),
        sent_group->revenue(), 1e-6);
  }

  // The same over HTTP, as JSON.
  const std::string until = google::protobuf::util::TimeUtil::ToString(request.until());
  const testing::HttpAnswer answer =
      testing::HttpCall(http, "GET", "/v1/alerts/outcomes?until=" + until);
  ASSERT_EQ(answer.status, 200) << answer.body;
  v1::AlertOutcomes from_http;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(answer.body, &from_http).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(from_http, measured))
      << answer.body;
  EXPECT_EQ(testing::HttpCall(http, "GET", "/v1/alerts/outcomes?segment=Z").status, 400);
  EXPECT_EQ(testing::HttpCall(http, "GET", "/v1/alerts/outcomes?since=yesterday").status, 400);
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();
}

// An offer campaign: its targets from ListOfferTargets with a campaign code,
// each marked control or not; the simulated campaign tool contacts the
// treated and reports the others held out; customers buy the offer (or
// something else) with a known effect. GetAlertOutcomes for the campaign
// counts exactly what was sent, and the alerts' outcomes leave it out.
TEST(OutcomesTest, AnOfferCampaignsOutcomesCountItsTargetsContactsAndPurchasesOfTheOffer) {
  constexpr char kOffer[] = "STREAMING";
  constexpr char kCampaign[] = "STREAM-SPRING";
  constexpr int kTargets = 150;
  auto kafka = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(kafka.ok()) << kafka.status();
  const std::string brokers = (*kafka)->bootstrap();
  std::vector<v1::Touchpoint> history;
  for (int c = 0; c < kTargets; ++c) {
    const std::string id = Customer(c);
    v1::Touchpoint consent = testing::DayTouchpoint(id, id + "-ok", 0, v1::CONSENT);
    consent.set_channel(v1::EMAIL);
    consent.set_consent_granted(true);
    history.push_back(consent);
    v1::Touchpoint phone =
        testing::DayTouchpoint(id, id + "-phone", 10 + c % 50, v1::PURCHASE, 200);
    phone.set_product("SMARTPHONE");
    history.push_back(phone);
    v1::Touchpoint interest = testing::DayTouchpoint(id, id + "-asks", 200, v1::CONTACT);
    interest.set_product(kOffer);
    history.push_back(interest);
  }
  std::stable_sort(history.begin(), history.end(), [](const auto& a, const auto& b) {
    return a.occurred_at().seconds() < b.occurred_at().seconds();
  });
  testing::ProduceTouchpoints(brokers, history);
  testing::TempDir dir;
  testing::RunningService service =
      testing::StartService(brokers, dir.path() / "data", dir.path() / "service.log",
                            {"--model", std::string(CRM_SOURCE_DIR) + "/models/demo.json",
                             "--control-share", std::to_string(kControlShare)},
                            "offer-outcomes-test");
  auto stub = v1::ScoringService::NewStub(
      grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials()));
  ASSERT_TRUE(testing::WaitApplied(*stub, Customer(kTargets - 1), 3));

  v1::ListOfferTargetsRequest list;
  list.set_product(kOffer);
  list.set_top_n(1000);
  list.set_campaign_id(kCampaign);
  v1::ListOfferTargetsResponse targets;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub->ListOfferTargets(&context, list, &targets).ok());
  }
  ASSERT_EQ(targets.targets_size(), kTargets);
  std::mt19937 random(20261205);
  std::bernoulli_distribution treated_back(kTreatedReturn), control_back(kControlReturn);
  v1::OutcomeGroup treated, control;
  std::vector<v1::Touchpoint> campaign;
  const int day = 301;
  for (const v1::OfferTarget& target : targets.targets()) {
    const std::string& id = target.customer_id();
    // The hold-out is drawn from the campaign code and the customer id.
    EXPECT_EQ(target.control(), InControlGroup(std::string(kCampaign) + "/" + id, kControlShare));
    v1::OutcomeGroup& group = target.control() ? control : treated;
    group.set_alerts(group.alerts() + 1);
    v1::Touchpoint report = testing::DayTouchpoint(id, id + "-offer", day, v1::CAMPAIGN_CONTACT);
    report.set_channel(v1::EMAIL);
    report.set_campaign_id(kCampaign);
    report.set_product(kOffer);
    report.set_held_out(target.control());
    campaign.push_back(report);
    group.set_contacted(group.contacted() + (target.control() ? 0 : 1));
    if (target.control() ? control_back(random) : treated_back(random)) {
      const double amount = 10 + static_cast<double>(random() % 20);
      v1::Touchpoint bought =
          testing::DayTouchpoint(id, id + "-bought", day + 3, v1::PURCHASE, amount);
      bought.set_product(kOffer);
      campaign.push_back(bought);
      group.set_recovered(group.recovered() + 1);
      group.set_revenue(group.revenue() + amount);
    }
    v1::Touchpoint other = testing::DayTouchpoint(id, id + "-other", day + 4, v1::PURCHASE, 99);
    other.set_product("SMARTWATCH");  // not the offer
    campaign.push_back(other);
    v1::Touchpoint late = testing::DayTouchpoint(id, id + "-late", day + 31, v1::PURCHASE, 77);
    late.set_product(kOffer);  // past the window
    campaign.push_back(late);
  }
  EXPECT_GT(treated.alerts(), 0u);
  EXPECT_GT(control.alerts(), 0u);
  std::stable_sort(campaign.begin(), campaign.end(), [](const auto& a, const auto& b) {
    return a.occurred_at().seconds() < b.occurred_at().seconds();
  });
  testing::ProduceTouchpoints(brokers, campaign);

  v1::GetAlertOutcomesRequest request;
  request.set_campaign_id(kCampaign);
  const auto outcomes = [&] {
    grpc::ClientContext context;
    v1::AlertOutcomes response;
    EXPECT_TRUE(stub->GetAlertOutcomes(&context, request, &response).ok());
    return response;
  };
  // The report, the other purchase and the late one at least.
  ASSERT_TRUE(testing::WaitApplied(*stub, Customer(kTargets - 1), 3 + 3));
  v1::AlertOutcomes measured = outcomes();
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (measured.treated().DebugString() + measured.control().DebugString() !=
             treated.DebugString() + control.DebugString() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
    measured = outcomes();
  }
  EXPECT_EQ(measured.treated().DebugString(), treated.DebugString());
  EXPECT_EQ(measured.control().DebugString(), control.DebugString());
  EXPECT_EQ(measured.uplift_known(), true);
  // The same over HTTP; the alerts' outcomes do not count the campaign.
  const testing::HttpAnswer answer = testing::HttpCall(
      service.http, "GET", std::string("/v1/alerts/outcomes?campaign_id=") + kCampaign);
  ASSERT_EQ(answer.status, 200) << answer.body;
  v1::AlertOutcomes from_http;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(answer.body, &from_http).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(from_http, measured));
  request.clear_campaign_id();
  const v1::AlertOutcomes alerts = outcomes();
  std::uint64_t alert_follow_ups = 0, offer_follow_ups = 0;
  for (int c = 0; c < kTargets; ++c) {
    grpc::ClientContext context;
    v1::GetCustomerStateRequest get;
    get.set_customer_id(Customer(c));
    v1::CustomerState state;
    ASSERT_TRUE(stub->GetCustomerState(&context, get, &state).ok());
    for (const v1::AlertFollowUp& follow_up : state.alert_follow_ups()) {
      ++(follow_up.campaign_id().empty() ? alert_follow_ups : offer_follow_ups);
    }
  }
  EXPECT_EQ(offer_follow_ups, static_cast<std::uint64_t>(kTargets));
  EXPECT_EQ(alerts.treated().alerts() + alerts.control().alerts(), alert_follow_ups);
  EXPECT_EQ(testing::HttpCall(service.http, "GET",
                              std::string("/v1/alerts/outcomes?segment=A&campaign_id=") + kCampaign)
                .status,
            400);
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();
}

}  // namespace
}  // namespace crm
