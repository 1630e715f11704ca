// At-risk alerts on the real stack: crm-scored on the event clock, a steady
// buyer who goes silent while another customer's events move time on, and the
// crm.alerts topic read back.
#include "core/alerts.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "crm/v1/scoring.grpc.pb.h"
#include "services/common/fail_point.h"
#include "services/kafka/embedded_broker.h"
#include "services/model/model_file.h"
#include "tests/integration/alert_topic.h"
#include "tests/integration/service_process.h"
#include "tests/integration/test_cluster.h"
#include "tests/integration/touchpoint_producer.h"
#include "tools/scrape.h"

namespace crm {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::EventClockServiceArgs;
using testing::ProduceRecords;
using testing::ProduceTouchpoints;
using testing::ReadAlerts;
using testing::TempDir;
using testing::WaitForAlertsOnTopic;
using testing::WaitForTransitionOnTopic;

using testing::kDaySeconds;
constexpr std::int64_t kStart = testing::kTestEpochSeconds;

v1::Touchpoint Event(const std::string& customer, const std::string& id, int day,
                     v1::TouchpointType type = v1::PURCHASE, double amount = 40) {
  return testing::DayTouchpoint(customer, id, day, type, amount);
}

TEST(AlertsTest, ASilentSteadyBuyerIsAlertedOnceWithNoEventOfTheirOwn) {
  TempDir dir;
  // One partition: on the event clock, a partition's own time moves its looks.
  auto broker = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string brokers = (*broker)->bootstrap();

  std::vector<v1::Touchpoint> steady, ticker;
  for (int i = 0; i < 20; ++i) {  // every 14 days, days 0 to 266
    steady.push_back(Event("steady", "s" + std::to_string(i), 14 * i, v1::PURCHASE));
  }
  for (int day = 266; day <= 500; day += 2) {  // another customer moves the partition's time on
    ticker.push_back(Event("ticker", "t" + std::to_string(day), day, v1::CONTACT));
  }
  ProduceTouchpoints(brokers, steady);

  ChildProcess service(CRM_SCORED_BIN,
                       testing::WithTestKafka({"--brokers",        brokers,
                                               "--data-dir",       (dir.path() / "data").string(),
                                               "--grpc-listen",    "127.0.0.1:0",
                                               "--metrics-listen", "127.0.0.1:0",
                                               "--http-listen",    "127.0.0.1:0",
                                               "--group",          "alerts-test",
                                               "--clock",          "event",
                                               "--log-level",      "debug",
                                               "--kafka",          "session.timeout.ms=6000",
                                               "--kafka",          "fetch.wait.max.ms=10"}),
                       dir.path() / "service.log");
  const auto metrics_port = service.WaitForLog("metrics listening on http://127.0.0.1:", 30s);
  ASSERT_TRUE(metrics_port) << service.Log();
  const auto grpc_port = service.WaitForLog("gRPC listening on 127.0.0.1:", 30s);
  ASSERT_TRUE(grpc_port) << service.Log();
  // The steady buyer's history is applied first: not at risk right after buying.
  auto stub = v1::ScoringService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + *grpc_port, grpc::InsecureChannelCredentials()));
  const auto applied = [&] {
    v1::GetCustomerStateRequest request;
    request.set_customer_id("steady");
    v1::CustomerState state;
    grpc::ClientContext context;
    return stub->GetCustomerState(&context, request, &state).ok() ? state.events_applied() : 0;
  };
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (applied() < 20 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(applied(), 20u) << service.Log();
  // Then only the other customer's events arrive, moving time on.
  ProduceTouchpoints(brokers, ticker);
  ASSERT_TRUE(WaitForAlertsOnTopic(brokers, {AlertId(CustomerId("steady"), 1)})) << service.Log();

  const std::vector<v1::ChurnAlert> alerts = ReadAlerts(brokers, 5s);
  ASSERT_EQ(alerts.size(), 1u) << service.Log();
  const v1::ChurnAlert& alert = alerts.front();
  EXPECT_EQ(alert.customer_id(), "steady");
  EXPECT_EQ(alert.alert_id(), AlertId(CustomerId("steady"), 1));
  EXPECT_GE(alert.churn(), 0.7);
  EXPECT_LT(alert.previous_churn(), 0.7);
  // Raised by time alone: after the rhythm broke, before the ticker's last event.
  EXPECT_GT(alert.raised_at().seconds(), kStart + (266 + 14) * kDaySeconds);
  EXPECT_LE(alert.raised_at().seconds(), kStart + 500 * kDaySeconds);
  EXPECT_FALSE(alert.reasons().empty());
  EXPECT_FALSE(alert.for_marketing());  // never consented to any channel
  EXPECT_EQ(alert.recommended_channel(), v1::CHANNEL_UNSPECIFIED);
  const std::string page = HttpGet("http://127.0.0.1:" + *metrics_port + "/metrics").value_or("");
  EXPECT_EQ(SumSamples(page, "crm_alerts_total"), 1) << page;
  EXPECT_EQ(
      // The exposition lists labels in name order.
      SumSamples(page, "crm_alerts_total{action=\"" + alert.recommended_action() + "\",segment=\"" +
                           alert.segment() + "\",transition=\"raised\"}"),
      1)
      << page;
  EXPECT_GE(SumSamples(page, "crm_rescored_total"), 1) << page;  // raised by the time index
  EXPECT_EQ(SumSamples(page, "crm_alerts_open"), 1) << page;
  // Every look due by the partition's time was taken: nothing waits, nothing is late.
  EXPECT_EQ(SumSamples(page, "crm_scheduler_backlog"), 0) << page;
  EXPECT_EQ(SumSamples(page, "crm_scheduler_lag_seconds"), 0) << page;
  EXPECT_EQ(service.Stop(SIGTERM), 0) << service.Log();
}

// On the wall clock, customers whose histories ended long ago have looks due
// at once, many more than one round takes: the rounds follow each other
// without a poll waiting for records in between (here a poll may wait 5 s and
// a round takes one look: were the polls to wait, the looks would take
// minutes).
TEST(AlertsTest, ABacklogOfDueLooksIsTakenWithoutPollsWaitingInBetween) {
  TempDir dir;
  auto broker = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string brokers = (*broker)->bootstrap();
  constexpr int kCustomers = 30;
  std::vector<v1::Touchpoint> history;
  for (int c = 0; c < kCustomers; ++c) {
    const std::string customer = "steady-" + std::to_string(c);
    for (int i = 0; i < 10; ++i) {  // every 14 days, a year or more before now
      history.push_back(Event(customer, customer + "-" + std::to_string(i), 14 * i + c));
    }
  }
  ProduceTouchpoints(brokers, history);

  ChildProcess service(CRM_SCORED_BIN,
                       testing::WithTestKafka({"--brokers",
                                               brokers,
                                               "--data-dir",
                                               (dir.path() / "data").string(),
                                               "--grpc-listen",
                                               "127.0.0.1:0",
                                               "--metrics-listen",
                                               "127.0.0.1:0",
                                               "--http-listen",
                                               "127.0.0.1:0",
                                               "--group",
                                               "backlog-test",
                                               "--poll-timeout-ms",
                                               "5000",
                                               "--rescore-interval-ms",
                                               "1",
                                               "--rescore-batch",
                                               "1",
                                               "--kafka",
                                               "session.timeout.ms=6000",
                                               "--kafka",
                                               "fetch.wait.max.ms=10"}),
                       dir.path() / "service.log");
  const auto metrics_port = service.WaitForLog("metrics listening on http://127.0.0.1:", 30s);
  ASSERT_TRUE(metrics_port) << service.Log();
  const std::string url = "http://127.0.0.1:" + *metrics_port + "/metrics";
  const auto metric = [&](const std::string& name) {
    return SumSamples(HttpGet(url).value_or(""), name);
  };
  const auto until = std::chrono::steady_clock::now() + 60s;
  while ((metric("crm_touchpoints_applied_total") < static_cast<double>(history.size()) ||
          metric("crm_rescored_total") < kCustomers || metric("crm_scheduler_backlog") > 0) &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(metric("crm_touchpoints_applied_total"), static_cast<double>(history.size()));
  EXPECT_GE(metric("crm_rescored_total"), kCustomers) << service.Log();
  EXPECT_EQ(metric("crm_scheduler_backlog"), 0) << service.Log();
  EXPECT_EQ(metric("crm_alerts_open"), kCustomers);  // silent for a year: every one at risk
  EXPECT_EQ(service.Stop(SIGTERM), 0) << service.Log();
}

// WatchAlerts: two concurrent subscribers with different filters each get
// what their filter lets through, as the alerts are delivered.
// Two subscribers with their filters get what the service raises and what
// another instance delivered to crm.alerts (the streams are fed from the
// topic itself); a third that never reads holds nothing up; one more than
// --max-watchers is refused.
TEST(AlertsTest, WatchAlertsDeliversToTwoSubscribersWithTheirFilters) {
  TempDir dir;
  // One partition: on the event clock, a partition's own time moves its looks.
  auto broker = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string brokers = (*broker)->bootstrap();
  const testing::SilentBuyers buyers = testing::VipAndSmall();
  ProduceTouchpoints(brokers, buyers.history);
  ChildProcess service(CRM_SCORED_BIN,
                       testing::WithTestKafka({"--brokers",        brokers,
                                               "--data-dir",       (dir.path() / "data").string(),
                                               "--grpc-listen",    "127.0.0.1:0",
                                               "--metrics-listen", "127.0.0.1:0",
                                               "--http-listen",    "127.0.0.1:0",
                                               "--group",          "watch-test",
                                               "--clock",          "event",
                                               "--kafka",          "session.timeout.ms=6000",
                                               "--kafka",          "fetch.wait.max.ms=10",
                                               "--max-watchers",   "3"}),
                       dir.path() / "service.log");
  const auto grpc_port = service.WaitForLog("gRPC listening on 127.0.0.1:", 30s);
  ASSERT_TRUE(grpc_port) << service.Log();
  auto channel = grpc::CreateChannel("127.0.0.1:" + *grpc_port, grpc::InsecureChannelCredentials());
  auto stub = v1::ScoringService::NewStub(channel);

  {  // a bad filter is refused
    grpc::ClientContext context;
    v1::WatchAlertsRequest request;
    request.set_action("PANIC");
    auto reader = stub->WatchAlerts(&context, request);
    v1::ChurnAlert alert;
    EXPECT_FALSE(reader->Read(&alert));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }

  std::atomic<int> subscribed{0};
  // Reads `want` alerts from a stream with `request`'s filters, then a little
  // longer to catch any extra one; cancels the stream at the deadline.
  const auto watch = [&](v1::WatchAlertsRequest request, std::size_t want,
                         std::vector<v1::ChurnAlert>* out) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 60s);
    auto reader = stub->WatchAlerts(&context, request);
    reader->WaitForInitialMetadata();  // the service's headers: subscribed
    subscribed.fetch_add(1);
    v1::ChurnAlert alert;
    while (out->size() < want && reader->Read(&alert)) out->push_back(alert);
    context.TryCancel();
    while (reader->Read(&alert)) out->push_back(alert);
    reader->Finish();
  };
  std::vector<v1::ChurnAlert> everything, win_back;
  v1::WatchAlertsRequest all;
  v1::WatchAlertsRequest valuable;
  valuable.set_action("WIN_BACK");
  std::thread a([&] { watch(all, 3, &everything); });
  std::thread b([&] { watch(valuable, 1, &win_back); });
  while (subscribed.load() < 2) std::this_thread::sleep_for(10ms);  // before any alert
  // A third subscriber that never reads.
  grpc::ClientContext idle_context;
  auto idle = stub->WatchAlerts(&idle_context, all);
  idle->WaitForInitialMetadata();
  {  // one more than --max-watchers
    grpc::ClientContext context;
    auto reader = stub->WatchAlerts(&context, all);
    v1::ChurnAlert alert;
    EXPECT_FALSE(reader->Read(&alert));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  // An alert another instance of the group delivered, and a record that is
  // no alert at all (skipped).
  v1::ChurnAlert theirs;
  theirs.set_alert_id("elsewhere-1");
  theirs.set_customer_id("elsewhere");
  theirs.set_churn(0.9);
  theirs.set_recommended_action("RETAIN");
  ProduceRecords(brokers, "crm.alerts",
                 {{.key = "garbage", .value = "\xff\xff not an alert"},
                  {.key = "elsewhere", .value = theirs.SerializeAsString()}});
  ProduceTouchpoints(brokers, buyers.ticker);
  a.join();
  b.join();
  idle_context.TryCancel();

  ASSERT_EQ(everything.size(), 3u) << service.Log();
  std::set<std::string> customers;
  for (const v1::ChurnAlert& alert : everything) customers.insert(alert.customer_id());
  EXPECT_EQ(customers, (std::set<std::string>{"elsewhere", "small", "vip"}));
  ASSERT_EQ(win_back.size(), 1u) << service.Log();
  EXPECT_EQ(win_back.front().customer_id(), "vip");
  EXPECT_EQ(win_back.front().recommended_action(), "WIN_BACK");
  for (const v1::ChurnAlert& alert : everything) {
    if (alert.customer_id() == "small") {
      EXPECT_NE(alert.recommended_action(), "WIN_BACK");
    }
  }
  EXPECT_EQ(service.Stop(SIGTERM), 0) << service.Log();
}

// The crm-scored command line of these tests, on `data` and the event clock.
// The life of one alert: a steady buyer goes silent (RAISED), then buys again
// (CLEARED, PURCHASED, the same alert_id), each once on crm.alerts; a
// WatchAlerts stream with include_cleared gets both, one without gets the
// raise only.
TEST(AlertsTest, ACustomerWhoBuysAgainHasTheirAlertClearedOnce) {
  TempDir dir;
  auto broker = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string brokers = (*broker)->bootstrap();
  std::vector<v1::Touchpoint> steady, ticker;
  for (int i = 0; i < 20; ++i) {  // every 14 days, days 0 to 266
    steady.push_back(Event("steady", "s" + std::to_string(i), 14 * i, v1::PURCHASE));
  }
  for (int day = 266; day <= 500; day += 2) {
    ticker.push_back(Event("ticker", "t" + std::to_string(day), day, v1::CONTACT));
  }
  ProduceTouchpoints(brokers, steady);
  ChildProcess service(CRM_SCORED_BIN,
                       EventClockServiceArgs(brokers, (dir.path() / "data").string(), "clear-test"),
                       dir.path() / "service.log");
  const auto grpc_port = service.WaitForLog("gRPC listening on 127.0.0.1:", 30s);
  ASSERT_TRUE(grpc_port) << service.Log();
  auto stub = v1::ScoringService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + *grpc_port, grpc::InsecureChannelCredentials()));
  const auto applied = [&] {
    v1::GetCustomerStateRequest request;
    request.set_customer_id("steady");
    v1::CustomerState state;
    grpc::ClientContext context;
    return stub->GetCustomerState(&context, request, &state).ok() ? state.events_applied() : 0;
  };
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (applied() < 20 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(applied(), 20u) << service.Log();

  // Two streams, before any alert: they read until `stop` says an alert is
  // the last one they wait for (or the deadline).
  std::atomic<int> subscribed{0};
  const auto watch = [&](v1::WatchAlertsRequest request,
                         std::function<bool(const v1::ChurnAlert&)> stop,
                         std::vector<v1::ChurnAlert>* out) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 90s);
    auto reader = stub->WatchAlerts(&context, request);
    reader->WaitForInitialMetadata();
    subscribed.fetch_add(1);
    v1::ChurnAlert alert;
    while (reader->Read(&alert)) {
      out->push_back(alert);
      if (stop(alert)) break;
    }
    context.TryCancel();
    reader->Finish();
  };
  v1::WatchAlertsRequest with_clears;
  with_clears.set_include_cleared(true);
  std::vector<v1::ChurnAlert> watched_with, watched_without;
  std::thread with([&] {
    watch(
        with_clears,
        [](const v1::ChurnAlert& a) { return a.transition() == v1::ALERT_TRANSITION_CLEARED; },
        &watched_with);
  });
  // Without include_cleared: until an alert produced after the clear (the
  // feed reads the one partition in order, so a clear let through would
  // come before it).
  std::thread without([&] {
    watch(
        v1::WatchAlertsRequest(),
        [](const v1::ChurnAlert& a) { return a.customer_id() == "sentinel"; }, &watched_without);
  });
  while (subscribed.load() < 2) std::this_thread::sleep_for(10ms);

  // Silence while another customer moves time on: raised.
  const std::string alert_id = AlertId(CustomerId("steady"), 1);
  ProduceTouchpoints(brokers, ticker);
  ASSERT_TRUE(WaitForTransitionOnTopic(brokers, alert_id, v1::ALERT_TRANSITION_RAISED))
      << service.Log();
  // They buy again: cleared.
  ProduceTouchpoints(brokers, {Event("steady", "back", 501, v1::PURCHASE)});
  ASSERT_TRUE(WaitForTransitionOnTopic(brokers, alert_id, v1::ALERT_TRANSITION_CLEARED))
      << service.Log();
  with.join();
  v1::ChurnAlert sentinel;
  sentinel.set_alert_id("sentinel-1");
  sentinel.set_customer_id("sentinel");
  sentinel.set_churn(0.9);
  sentinel.set_recommended_action("RETAIN");
  sentinel.set_transition(v1::ALERT_TRANSITION_RAISED);
  ProduceRecords(brokers, "crm.alerts",
                 {{.key = "sentinel", .value = sentinel.SerializeAsString()}});
  without.join();

  // On the topic: the raise and its clear, each once, under one alert_id.
  const std::vector<v1::ChurnAlert> alerts = ReadAlerts(brokers, 5s);
  std::vector<v1::ChurnAlert> steady_alerts;
  for (const v1::ChurnAlert& alert : alerts) {
    if (alert.customer_id() == "steady") steady_alerts.push_back(alert);
  }
  ASSERT_EQ(steady_alerts.size(), 2u) << service.Log();
  const v1::ChurnAlert& raised = steady_alerts[0];
  const v1::ChurnAlert& cleared = steady_alerts[1];
  EXPECT_EQ(raised.alert_id(), alert_id);
  EXPECT_EQ(raised.transition(), v1::ALERT_TRANSITION_RAISED);
  EXPECT_EQ(raised.cleared_reason(), "");
  EXPECT_GE(raised.churn(), 0.7);
  EXPECT_EQ(cleared.alert_id(), alert_id);
  EXPECT_EQ(cleared.transition(), v1::ALERT_TRANSITION_CLEARED);
  EXPECT_EQ(cleared.cleared_reason(), "PURCHASED");
  EXPECT_LT(cleared.churn(), 0.5);
  EXPECT_EQ(cleared.raised_at().seconds(), kStart + 501 * kDaySeconds);  // the purchase's look

  // On the streams: both with include_cleared, the raise only without.
  ASSERT_EQ(watched_with.size(), 2u) << service.Log();
  EXPECT_EQ(watched_with[0].transition(), v1::ALERT_TRANSITION_RAISED);
  EXPECT_EQ(watched_with[1].transition(), v1::ALERT_TRANSITION_CLEARED);
  EXPECT_EQ(watched_with[1].alert_id(), alert_id);
  EXPECT_EQ(watched_with[1].cleared_reason(), "PURCHASED");
  ASSERT_EQ(watched_without.size(), 2u) << service.Log();
  EXPECT_EQ(watched_without[0].alert_id(), alert_id);
  EXPECT_EQ(watched_without[0].transition(), v1::ALERT_TRANSITION_RAISED);
  EXPECT_EQ(watched_without[1].customer_id(), "sentinel");
  EXPECT_EQ(service.Stop(SIGTERM), 0) << service.Log();
}

// A model file holding the built-in model with BG/NBD as its purchase model
// (the built-in one is Pareto/NBD), for the trajectories worked out on it.
std::string WriteBgNbdModel(const TempDir& dir) {
  Model model;
  model.purchase.kind = PurchaseModelKind::kBgNbd;
  const std::filesystem::path path = dir.path() / "bgnbd.model.json";
  std::ofstream(path) << ModelToJson(model, "the built-in model on BG/NBD");
  return path.string();
}

// crm-scored with CRM_FAIL_POINTS set, through env(1).
std::unique_ptr<ChildProcess> StartWithFailPoints(const std::string& fail_points,
                                                  std::vector<std::string> args,
                                                  const std::filesystem::path& log) {
  args.insert(args.begin(), {"CRM_FAIL_POINTS=" + fail_points, CRM_SCORED_BIN});
  return std::make_unique<ChildProcess>("/usr/bin/env", std::move(args), log);
}

// Exactly once: the service dies just before committing the batch that
// raises the alerts, is restarted and replays it; dies again after Kafka
// acknowledged the alerts but before they left the outbox, and is restarted:
// each crossing, a raise or a clear, is on crm.alerts exactly once.
TEST(AlertsTest, EachCrossingReachesTheTopicOnceAcrossCrashesAroundCommitAndDelivery) {
  TempDir dir;
  auto broker = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string brokers = (*broker)->bootstrap();
  std::vector<v1::Touchpoint> touchpoints;
  for (int i = 0; i < 20; ++i) {  // two steady buyers with their own rhythms
    touchpoints.push_back(Event("steady-a", "a" + std::to_string(i), 14 * i, v1::PURCHASE));
    touchpoints.push_back(Event("steady-b", "b" + std::to_string(i), 10 * i, v1::PURCHASE, 90));
  }
  for (int day = 266; day <= 500; day += 2) {
    touchpoints.push_back(Event("ticker", "t" + std::to_string(day), day, v1::CONTACT));
  }
  // steady-a buys again: their alert clears, a third event to deliver once.
  touchpoints.push_back(Event("steady-a", "a-back", 501, v1::PURCHASE));
  ProduceTouchpoints(brokers, touchpoints);
  const std::string data = (dir.path() / "data").string();
  std::vector<std::string> args = EventClockServiceArgs(brokers, data, "exactly-once-test");
  // Each steady buyer crosses once on BG/NBD. On Pareto/NBD, steady-b's
  // purchases, produced behind steady-a's later ones, find the partition's time
  // already past a silence long enough to raise, then clear, an extra alert.
  args.insert(args.end(), {"--model", WriteBgNbdModel(dir)});
  // Each crossing by its alert id and transition: steady-a's raise and clear,
  // steady-b's raise.
  const std::set<std::string> crossings = {AlertId(CustomerId("steady-a"), 1) + " RAISED",
                                           AlertId(CustomerId("steady-a"), 1) + " CLEARED",
                                           AlertId(CustomerId("steady-b"), 1) + " RAISED"};

  // 1. Dies before the commit that raises the first alert: nothing raised.
  {
    auto service = StartWithFailPoints("commit-with-alert", args, dir.path() / "run1.log");
    ASSERT_EQ(service->Wait(60s), kFailPointExitCode) << service->Log();
    EXPECT_NE(service->Log().find("crashing at commit-with-alert"), std::string::npos);
  }
  EXPECT_TRUE(ReadAlerts(brokers, 2s).empty());

  // 2. Replays, commits, delivers, and dies before acknowledging the delivery.
  {
    auto service = StartWithFailPoints("alert-delivered", args, dir.path() / "run2.log");
    ASSERT_EQ(service->Wait(60s), kFailPointExitCode) << service->Log();
  }
  const std::vector<v1::ChurnAlert> delivered = ReadAlerts(brokers, 3s);
  ASSERT_FALSE(delivered.empty());  // on the topic, still in the outbox

  // 3. Restarts cleanly: reads the topic back, sends only what is missing.
  ChildProcess service(CRM_SCORED_BIN, args, dir.path() / "run3.log");
  const auto metrics_port = service.WaitForLog("metrics listening on http://127.0.0.1:", 30s);
  ASSERT_TRUE(metrics_port) << service.Log();
  // Once both crossings left the outbox, the topic holds each exactly once.
  ASSERT_TRUE(testing::WaitForMetric("http://127.0.0.1:" + *metrics_port + "/metrics",
                                     "crm_alerts_delivered_total",
                                     static_cast<double>(crossings.size())))
      << service.Log();
  const std::vector<v1::ChurnAlert> alerts = ReadAlerts(brokers, 5s);
  std::multiset<std::string> ids;
  for (const v1::ChurnAlert& alert : alerts) {
    ids.insert(alert.alert_id() + " " +
               (alert.transition() == v1::ALERT_TRANSITION_CLEARED ? "CLEARED" : "RAISED"));
    if (alert.transition() == v1::ALERT_TRANSITION_CLEARED) {
      EXPECT_EQ(alert.cleared_reason(), "PURCHASED");
    }
  }
  EXPECT_EQ(ids, std::multiset<std::string>(crossings.begin(), crossings.end()));
  EXPECT_EQ(service.Stop(SIGTERM), 0) << service.Log();
}

// ListAtRiskCustomers, read from the at-risk index, returns what ranking every
// customer's current scores would: the same customers, in the same order, by
// churn and by value at risk, with and without the lost ones.
TEST(AlertsTest, ListAtRiskMatchesABruteForceRankingOfEveryCustomer) {
  TempDir dir;
  auto broker = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string brokers = (*broker)->bootstrap();
  // 60 buyers of varied rhythm, value and last purchase, complaints for some,
  // and prospects, which are never at risk.
  std::vector<v1::Touchpoint> touchpoints;
  std::vector<std::string> customers;
  for (int c = 0; c < 60; ++c) {
    const std::string id = "buyer-" + std::to_string(c);
    customers.push_back(id);
    const int rhythm = 5 + (c * 7) % 40;
    const int last = 100 + (c * 37) % 300;
    for (int day = last % rhythm, n = 0; day <= last; day += rhythm, ++n) {
      touchpoints.push_back(
          Event(id, id + "-p" + std::to_string(n), day, v1::PURCHASE, 5 + (c * 13) % 200));
    }
    if (c % 5 == 0) touchpoints.push_back(Event(id, id + "-k", last + 3, v1::COMPLAINT));
  }
  for (int c = 0; c < 5; ++c) {
    const std::string id = "prospect-" + std::to_string(c);
    customers.push_back(id);
    touchpoints.push_back(Event(id, id + "-v", 400, v1::CONTACT));
  }
  touchpoints.push_back(Event("prospect-0", "clock", 420, v1::CONTACT));  // "now"
  ProduceTouchpoints(brokers, touchpoints);
  ChildProcess service(
      CRM_SCORED_BIN,
      EventClockServiceArgs(brokers, (dir.path() / "data").string(), "at-risk-test"),
      dir.path() / "service.log");
  const auto grpc_port = service.WaitForLog("gRPC listening on 127.0.0.1:", 30s);
  ASSERT_TRUE(grpc_port) << service.Log();
  auto stub = v1::ScoringService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + *grpc_port, grpc::InsecureChannelCredentials()));

  // Every customer's scores as of now, once everything is applied.
  const auto everyone = [&] {
    v1::BatchGetCustomerScoresRequest request;
    for (const std::string& id : customers) request.add_customer_ids(id);
    v1::BatchGetCustomerScoresResponse response;
    grpc::ClientContext context;
    if (!stub->BatchGetCustomerScores(&context, request, &response).ok()) return response;
    return response;
  };
  v1::BatchGetCustomerScoresResponse all;
  const auto until = std::chrono::steady_clock::now() + 60s;
  const auto applied = [&] {
    std::size_t n = 0;
    for (const v1::CustomerScores& s : all.scores()) n += s.events_applied();
    return n;
  };
  while ((all = everyone(), applied()) < touchpoints.size() &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(applied(), touchpoints.size()) << service.Log();

  // What the ranking promises, worked out from every customer's scores: no
  // prospect; no lost customer unless asked; by value at risk, only those at
  // risk (churn at or above the default raise threshold, 0.7).
  struct Ask {
    std::string segment;
    std::uint32_t top = 0;
    v1::AtRiskOrder order = v1::AT_RISK_ORDER_UNSPECIFIED;
    bool include_lost = false;
  };
  const auto key = [](const Ask& ask, const v1::CustomerScores& s) {
    return ask.order == v1::AT_RISK_ORDER_VALUE_AT_RISK ? s.value_at_risk() : s.churn();
  };
  const auto brute_force = [&](const Ask& ask) {
    std::vector<const v1::CustomerScores*> ranked;
    for (const v1::CustomerScores& s : all.scores()) {
      if (!s.has_churn()) continue;  // a prospect
      if (!ask.segment.empty() && s.segment() != ask.segment) continue;
      if (s.lifecycle_stage() == "LOST" && !ask.include_lost) continue;
      if (ask.order == v1::AT_RISK_ORDER_VALUE_AT_RISK && s.churn() < 0.7) continue;
      ranked.push_back(&s);
    }
    std::sort(ranked.begin(), ranked.end(), [&](const auto* a, const auto* b) {
      return key(ask, *a) != key(ask, *b) ? key(ask, *a) > key(ask, *b)
                                          : a->customer_id() < b->customer_id();
    });
    std::vector<std::pair<std::string, double>> out;
    for (std::size_t i = 0; i < std::min<std::size_t>(ask.top, ranked.size()); ++i) {
      out.emplace_back(ranked[i]->customer_id(), key(ask, *ranked[i]));
    }
    return out;
  };
  const auto listed = [&](const Ask& ask) {
    v1::ListAtRiskCustomersRequest request;
    request.set_top_n(ask.top);
    request.set_segment(ask.segment);
    request.set_order_by(ask.order);
    request.set_include_lost(ask.include_lost);
    v1::ListAtRiskCustomersResponse response;
    grpc::ClientContext context;
    const grpc::Status status = stub->ListAtRiskCustomers(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<std::pair<std::string, double>> out;
    for (const v1::CustomerScores& s : response.customers()) {
      out.emplace_back(s.customer_id(), key(ask, s));
    }
    return out;
  };
  std::size_t lost = 0;
  for (const v1::CustomerScores& s : all.scores()) lost += s.lifecycle_stage() == "LOST" ? 1 : 0;
  EXPECT_GT(lost, 0u);  // the ranking has lost customers to leave out
  for (const std::string segment : {"", "A", "B", "C"}) {
    for (std::uint32_t top : {1u, 10u, 100u}) {
      for (v1::AtRiskOrder order : {v1::AT_RISK_ORDER_UNSPECIFIED, v1::AT_RISK_ORDER_CHURN,
                                    v1::AT_RISK_ORDER_VALUE_AT_RISK}) {
        for (bool include_lost : {false, true}) {
          const Ask ask{segment, top, order, include_lost};
          SCOPED_TRACE("segment '" + segment + "', top " + std::to_string(top) + ", order " +
                       v1::AtRiskOrder_Name(order) + (include_lost ? ", lost included" : ""));
          const auto want = brute_force(ask);
          if (segment.empty()) {
            EXPECT_FALSE(want.empty());
          }
          EXPECT_EQ(listed(ask), want);
        }
      }
    }
  }
  {  // top_n is bounded
    v1::ListAtRiskCustomersRequest request;
    request.set_top_n(5000);
    v1::ListAtRiskCustomersResponse response;
    grpc::ClientContext context;
    EXPECT_EQ(stub->ListAtRiskCustomers(&context, request, &response).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_EQ(service.Stop(SIGTERM), 0) << service.Log();
}

}  // namespace
}  // namespace crm
