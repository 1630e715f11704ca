#include "services/grpc/alert_hub.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

namespace crm {
namespace {

AlertEvent Alert(const std::string& id, Segment segment = Segment::kA) {
  AlertEvent alert;
  alert.outcome.alert_id = id;
  alert.segment = segment;
  return alert;
}

// Everything queued for `subscription`, oldest first.
std::vector<std::string> Drain(AlertHub::Subscription& subscription) {
  std::vector<std::string> ids;
  while (auto alert = subscription.Take()) ids.push_back(alert->event.outcome.alert_id);
  return ids;
}

TEST(AlertHubTest, EverySubscriberGetsEveryAlertInOrderAndIsToldOfEach) {
  AlertHub hub;
  int told_a = 0, told_b = 0;
  auto a = hub.Subscribe({}, [&] { ++told_a; });
  auto b = hub.Subscribe({}, [&] { ++told_b; });
  hub.Publish(Alert("1"));
  hub.Publish(Alert("2"));
  EXPECT_EQ(told_a, 2);
  EXPECT_EQ(told_b, 2);
  for (auto* subscription : {a.get(), b.get()}) {
    EXPECT_EQ(Drain(*subscription), (std::vector<std::string>{"1", "2"}));
  }
}

TEST(AlertHubTest, EachSubscriberOnlyGetsWhatItsFilterAccepts) {
  AlertHub hub;
  auto only_b =
      hub.Subscribe([](const AlertEvent& alert) { return alert.segment == Segment::kB; }, {});
  hub.Publish(Alert("1", Segment::kA));
  hub.Publish(Alert("2", Segment::kB));
  EXPECT_EQ(Drain(*only_b), (std::vector<std::string>{"2"}));
}

TEST(AlertHubTest, ASubscriberOnlySeesWhatCameAfterItSubscribed) {
  AlertHub hub;
  hub.Publish(Alert("before"));
  auto late = hub.Subscribe({}, {});
  EXPECT_EQ(late->Take(), nullptr);
}

// A subscriber that never takes (a caller that does not read) loses its
// oldest alerts past its byte budget; the others lose nothing.
TEST(AlertHubTest, ASlowSubscriberLosesItsOldestAlertsPastItsBytesNotTheHub) {
  AlertEvent sample = Alert("0");
  AlertHub probe;
  auto measure = probe.Subscribe({}, {});
  probe.Publish(sample);
  const std::size_t bytes = measure->Take()->bytes;
  ASSERT_GT(bytes, 0u);

  AlertHub hub({.max_subscribers = 10, .max_queued_bytes = 2 * bytes});
  auto slow = hub.Subscribe({}, {});
  auto keen = hub.Subscribe({}, {});
  std::vector<std::string> keen_got;
  for (const char* id : {"1", "2", "3", "4"}) {
    hub.Publish(Alert(id));
    for (const std::string& got : Drain(*keen)) keen_got.push_back(got);
  }
  EXPECT_EQ(slow->dropped(), 2u);
  EXPECT_EQ(hub.dropped(), 2u);
  EXPECT_EQ(Drain(*slow), (std::vector<std::string>{"3", "4"}));
  EXPECT_EQ(keen->dropped(), 0u);
  EXPECT_EQ(keen_got, (std::vector<std::string>{"1", "2", "3", "4"}));
}

TEST(AlertHubTest, OneSubscriberMoreThanTheMaximumIsRefusedUntilOneLeaves) {
  AlertHub hub({.max_subscribers = 2});
  auto a = hub.Subscribe({}, {});
  auto b = hub.Subscribe({}, {});
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(hub.Subscribe({}, {}), nullptr);
  EXPECT_EQ(hub.subscribers(), 2u);
  a.reset();
  EXPECT_NE(hub.Subscribe({}, {}), nullptr);
}

TEST(AlertHubTest, CloseTellsEverySubscriber) {
  AlertHub hub;
  std::atomic<int> told{0};
  auto subscription = hub.Subscribe({}, [&] { ++told; });
  EXPECT_FALSE(subscription->closed());
  hub.Close();
  EXPECT_EQ(told.load(), 1);
  EXPECT_TRUE(subscription->closed());
  hub.Publish(Alert("after"));
  EXPECT_EQ(subscription->Take(), nullptr) << "nothing is queued once closed";
}

}  // namespace
}  // namespace crm
