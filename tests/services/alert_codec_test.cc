#include "services/codec/alert_codec.h"

#include <gtest/gtest.h>

namespace crm {
namespace {

TEST(AlertCodecTest, RoundTripsARaisedAlert) {
  AlertEvent alert;
  alert.customer_id = CustomerId("c1");
  alert.outcome = {AlertTransition::kRaised, AlertId(CustomerId("c1"), 2), 0.25};
  alert.at = FromMicros(1'767'000'000'123'000);
  alert.churn = 0.8125;
  alert.segment = "A";
  alert.action = "WIN_BACK";
  alert.channel = Channel::kEmail;
  alert.reasons = {{"PURCHASE_RECENCY", "no purchase for 94 days, usually every 21", 1.5}};
  alert.model_version = "v7";
  v1::ChurnAlert message;
  ToProto(alert, &message);
  EXPECT_TRUE(message.for_marketing());
  EXPECT_EQ(message.recommended_channel(), v1::EMAIL);
  const AlertEvent back = FromProto(message);
  EXPECT_EQ(back.customer_id, alert.customer_id);
  EXPECT_EQ(back.outcome.alert_id, alert.outcome.alert_id);
  EXPECT_EQ(back.outcome.previous_churn, 0.25);
  EXPECT_EQ(back.at, alert.at);
  EXPECT_EQ(back.churn, alert.churn);
  EXPECT_EQ(back.segment, "A");
  EXPECT_EQ(back.action, "WIN_BACK");
  EXPECT_EQ(back.channel, Channel::kEmail);
  ASSERT_EQ(back.reasons.size(), 1u);
  EXPECT_EQ(back.reasons[0].sentence, alert.reasons[0].sentence);
  EXPECT_EQ(back.reasons[0].weight, 1.5);
  EXPECT_EQ(back.model_version, "v7");
}

TEST(AlertCodecTest, NoConsentedChannelIsNotForMarketing) {
  AlertEvent alert;
  alert.channel = Channel::kUnspecified;
  v1::ChurnAlert message;
  ToProto(alert, &message);
  EXPECT_FALSE(message.for_marketing());
  message.set_recommended_channel(static_cast<v1::Channel>(99));  // unknown on the wire
  EXPECT_EQ(FromProto(message).channel, Channel::kUnspecified);
}

}  // namespace
}  // namespace crm
