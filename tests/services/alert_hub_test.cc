#include "services/grpc/alert_hub.h"

#include <gtest/gtest.h>

#include <thread>

namespace crm {
namespace {

using namespace std::chrono_literals;

AlertEvent Alert(const std::string& id) {
  AlertEvent alert;
  alert.outcome.alert_id = id;
  return alert;
}

TEST(AlertHubTest, EverySubscriberGetsEveryAlertInOrder) {
  AlertHub hub;
  auto a = hub.Subscribe();
  auto b = hub.Subscribe();
  hub.Publish(Alert("1"));
  hub.Publish(Alert("2"));
  for (auto* subscription : {a.get(), b.get()}) {
    EXPECT_EQ(subscription->Next(1s)->outcome.alert_id, "1");
    EXPECT_EQ(subscription->Next(1s)->outcome.alert_id, "2");
    EXPECT_EQ(subscription->Next(10ms), std::nullopt);
  }
}

TEST(AlertHubTest, ASubscriberOnlySeesWhatCameAfterItSubscribed) {
  AlertHub hub;
  hub.Publish(Alert("before"));
  auto late = hub.Subscribe();
  EXPECT_EQ(late->Next(10ms), std::nullopt);
}

TEST(AlertHubTest, ASlowSubscriberLosesItsOldestAlertsNotTheHub) {
  AlertHub hub;
  auto slow = hub.Subscribe(/*capacity=*/2);
  for (const char* id : {"1", "2", "3", "4"}) hub.Publish(Alert(id));
  EXPECT_EQ(slow->dropped(), 2u);
  EXPECT_EQ(slow->Next(1s)->outcome.alert_id, "3");
  EXPECT_EQ(slow->Next(1s)->outcome.alert_id, "4");
}

TEST(AlertHubTest, CloseWakesAWaitingSubscriber) {
  AlertHub hub;
  auto subscription = hub.Subscribe();
  std::thread closer([&] {
    std::this_thread::sleep_for(50ms);
    hub.Close();
  });
  EXPECT_EQ(subscription->Next(30s), std::nullopt);  // woken by Close, not the timeout
  EXPECT_TRUE(subscription->closed());
  closer.join();
}

}  // namespace
}  // namespace crm
