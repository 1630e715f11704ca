#include "tools/demo/campaign.h"

#include <gtest/gtest.h>

#include "core/validation.h"
#include "tools/demo/population.h"

namespace crm::demo {
namespace {

const Timestamp kRaised = FromMicros(1767225600LL * 1'000'000);  // 2026-01-01

RaisedAlert Alert(int i, bool for_marketing, bool control) {
  return {.alert_id = "c" + std::to_string(i) + "/1",
          .customer = CustomerId("c" + std::to_string(i)),
          .raised_at = kRaised,
          .for_marketing = for_marketing,
          .control = control,
          .channel = Channel::kSms};
}

TEST(CampaignToolTest, TreatedAreContactedAndComeBackAtTheirRateControlAtTheirs) {
  CampaignTool tool(CampaignOptions{.treated_return = 0.6, .control_return = 0.2, .seed = 5});
  EXPECT_DOUBLE_EQ(tool.true_uplift(), 0.4);
  int treated_back = 0;
  int control_back = 0;
  constexpr int kAlerts = 4000;
  const Timestamp far_future = kRaised + std::chrono::hours(24 * 365);
  for (int i = 0; i < kAlerts; ++i) {
    const bool control = i % 2 == 1;
    const std::vector<Touchpoint> answer = tool.Respond(Alert(i, !control, control), kRaised);
    int contacts = 0;
    for (const Touchpoint& tp : answer) {
      EXPECT_EQ(ValidateTouchpoint(tp, tp.customer_id.value(), far_future, ValidationLimits{}),
                std::nullopt)
          << tp.event_id;
      EXPECT_GE(tp.occurred_at, kRaised);
      EXPECT_LT(tp.occurred_at, kRaised + std::chrono::days(30));  // within the window
      if (tp.type == TouchpointType::kCampaignContact) {
        ++contacts;
        EXPECT_EQ(tp.campaign_id, "c" + std::to_string(i) + "/1");
        EXPECT_EQ(tp.channel, Channel::kSms);
      } else {
        ASSERT_EQ(tp.type, TouchpointType::kPurchase);
        ++(control ? control_back : treated_back);
      }
    }
    EXPECT_EQ(contacts, control ? 0 : 1);  // the control group is never contacted
    if (answer.size() == 2) {
      EXPECT_LE(answer[0].occurred_at, answer[1].occurred_at);
    }
  }
  // Within four standard deviations of the rates set.
  EXPECT_NEAR(treated_back / (kAlerts / 2.0), 0.6, 4 * std::sqrt(0.24 / (kAlerts / 2.0)));
  EXPECT_NEAR(control_back / (kAlerts / 2.0), 0.2, 4 * std::sqrt(0.16 / (kAlerts / 2.0)));
  // An alert excluded for another reason is left alone; the past is not rewritten.
  EXPECT_TRUE(tool.Respond(Alert(0, false, false), kRaised).empty());
  const Timestamp later = kRaised + std::chrono::days(3);
  for (const Touchpoint& tp : tool.Respond(Alert(1, true, false), later)) {
    EXPECT_GE(tp.occurred_at, later);
  }
}

TEST(CampaignToolTest, InjectedTouchpointsComeOutOfThePopulationInTimeOrder) {
  PopulationOptions options;
  options.customers = 50;
  options.start = kRaised;
  options.duplicate_rate = 0;
  Population population(options);
  Touchpoint first = population.Next();
  Touchpoint injected;
  injected.event_id = "campaign-x";
  injected.customer_id = first.customer_id;
  injected.type = TouchpointType::kCampaignContact;
  injected.occurred_at = first.occurred_at + std::chrono::hours(30);
  population.Inject(injected);
  Touchpoint early = injected;  // in the past of the stream: comes now, not back in time
  early.event_id = "campaign-y";
  early.occurred_at = kRaised - std::chrono::days(5);
  population.Inject(early);
  Timestamp previous = first.occurred_at;
  int seen = 0;
  for (int i = 0; i < 2000 && seen < 2; ++i) {
    const Touchpoint tp = population.Next();
    ASSERT_GE(tp.occurred_at, previous);
    previous = tp.occurred_at;
    if (tp.event_id == "campaign-y") {
      EXPECT_EQ(seen, 0);
      EXPECT_EQ(tp.occurred_at, first.occurred_at);
      ++seen;
    } else if (tp.event_id == "campaign-x") {
      EXPECT_EQ(tp.occurred_at, injected.occurred_at);
      ++seen;
    }
  }
  EXPECT_EQ(seen, 2);
}

}  // namespace
}  // namespace crm::demo
