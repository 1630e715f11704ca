#include "services/codec/alert_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace crm {
namespace {

TEST(AlertCodecTest, RoundTripsARaisedAlert) {
  AlertEvent alert;
  alert.customer_id = CustomerId("c1");
  alert.outcome = {AlertTransition::kRaised, AlertId(CustomerId("c1"), 2), 0.25};
  alert.at = FromMicros(1'767'000'000'123'000);
  alert.churn = 0.8125;
  alert.segment = Segment::kA;
  alert.action = RecommendedAction::kWinBack;
  alert.channel = Channel::kEmail;
  alert.reasons = {{"PURCHASE_RECENCY", "no purchase for 94 days, usually every 21", 1.5}};
  alert.model_version = "v7";
  alert.value_at_risk = 812.5;
  alert.clv = 310.25;
  alert.quadrant = ValueQuadrant::kMature;
  alert.lifecycle_stage = LifecycleStage::kDecline;
  alert.p_alive = 0.375;
  v1::ChurnAlert message;
  ToProto(alert, &message);
  EXPECT_TRUE(message.for_marketing());
  EXPECT_EQ(message.value_quadrant(), "MATURE");
  EXPECT_EQ(message.lifecycle_stage(), "DECLINE");
  EXPECT_EQ(message.recommended_channel(), v1::EMAIL);
  EXPECT_EQ(message.segment(), "A");
  EXPECT_EQ(message.recommended_action(), "WIN_BACK");
  const absl::StatusOr<AlertEvent> decoded = FromProto(message);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  const AlertEvent& back = *decoded;
  EXPECT_EQ(back.customer_id, alert.customer_id);
  EXPECT_EQ(back.outcome.alert_id, alert.outcome.alert_id);
  EXPECT_EQ(back.outcome.previous_churn, 0.25);
  EXPECT_EQ(back.at, alert.at);
  EXPECT_EQ(back.churn, alert.churn);
  EXPECT_EQ(back.segment, Segment::kA);
  EXPECT_EQ(back.action, RecommendedAction::kWinBack);
  EXPECT_EQ(back.channel, Channel::kEmail);
  ASSERT_EQ(back.reasons.size(), 1u);
  EXPECT_EQ(back.reasons[0].sentence, alert.reasons[0].sentence);
  EXPECT_EQ(back.reasons[0].weight, 1.5);
  EXPECT_EQ(back.model_version, "v7");
  EXPECT_EQ(back.value_at_risk, 812.5);
  EXPECT_EQ(back.clv, 310.25);
  EXPECT_EQ(back.quadrant, ValueQuadrant::kMature);
  EXPECT_EQ(back.lifecycle_stage, LifecycleStage::kDecline);
  EXPECT_EQ(back.p_alive, 0.375);
}

TEST(AlertCodecTest, AnUnknownQuadrantOrStageIsRefusedAndAnOlderAlertIsRead) {
  AlertEvent alert;
  alert.customer_id = CustomerId("c1");
  v1::ChurnAlert message;
  ToProto(alert, &message);
  message.clear_value_quadrant();  // as published before alerts carried them
  message.clear_lifecycle_stage();
  EXPECT_TRUE(FromProto(message).ok());
  message.set_value_quadrant("PRECIOUS");
  EXPECT_EQ(FromProto(message).status().code(), absl::StatusCode::kInvalidArgument);
  message.set_value_quadrant("MATURE");
  message.set_lifecycle_stage("ASLEEP");
  EXPECT_EQ(FromProto(message).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AlertCodecTest, ARaiseSaysRaisedWithNoClearedReason) {
  AlertEvent alert;
  alert.outcome = {AlertTransition::kRaised, "a-1", 0.5};
  v1::ChurnAlert message;
  ToProto(alert, &message);
  EXPECT_EQ(message.transition(), v1::ALERT_TRANSITION_RAISED);
  EXPECT_EQ(message.cleared_reason(), "");
  const absl::StatusOr<AlertEvent> back = FromProto(message);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->outcome.transition, AlertTransition::kRaised);
  EXPECT_EQ(back->cleared_reason, std::nullopt);
}

TEST(AlertCodecTest, RoundTripsAClearedAlert) {
  for (ClearedReason reason : kClearedReasons) {
    AlertEvent alert;
    alert.customer_id = CustomerId("c1");
    alert.outcome = {AlertTransition::kCleared, AlertId(CustomerId("c1"), 2), 0.75};
    alert.cleared_reason = reason;
    alert.at = FromMicros(1'767'000'000'123'000);
    alert.churn = 0.3125;
    alert.segment = Segment::kB;
    alert.action = RecommendedAction::kRetain;
    alert.channel = Channel::kSms;
    v1::ChurnAlert message;
    ToProto(alert, &message);
    EXPECT_EQ(message.transition(), v1::ALERT_TRANSITION_CLEARED);
    EXPECT_EQ(message.cleared_reason(), ClearedReasonName(reason));
    EXPECT_EQ(message.alert_id(), alert.outcome.alert_id);  // the raise's
    const absl::StatusOr<AlertEvent> back = FromProto(message);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->outcome.transition, AlertTransition::kCleared);
    EXPECT_EQ(back->cleared_reason, reason);
    EXPECT_EQ(back->outcome.alert_id, alert.outcome.alert_id);
    EXPECT_EQ(back->outcome.previous_churn, 0.75);
    EXPECT_EQ(back->at, alert.at);
    EXPECT_EQ(back->churn, alert.churn);
    EXPECT_EQ(back->segment, Segment::kB);
    EXPECT_EQ(back->action, RecommendedAction::kRetain);
    EXPECT_EQ(back->channel, Channel::kSms);
  }
}

TEST(AlertCodecTest, ARaiseAndItsClearAreDeliveredUnderDistinctIds) {
  const std::string id = AlertId(CustomerId("c1"), 1);
  const AlertOutcome raised{AlertTransition::kRaised, id, 0};
  const AlertOutcome cleared{AlertTransition::kCleared, id, 0};
  EXPECT_EQ(AlertDeliveryId(raised), id);  // as before clears existed
  EXPECT_NE(AlertDeliveryId(cleared), AlertDeliveryId(raised));
}

TEST(AlertCodecTest, AnAlertWrittenBeforeClearsExistedIsARaise) {
  v1::ChurnAlert message;
  message.set_alert_id("a-1");
  message.set_recommended_action("RETAIN");
  ASSERT_EQ(message.transition(), v1::ALERT_TRANSITION_UNSPECIFIED);
  const absl::StatusOr<AlertEvent> back = FromProto(message);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->outcome.transition, AlertTransition::kRaised);
}

TEST(AlertCodecTest, AnUnknownTransitionOrClearedReasonIsRefused) {
  AlertEvent alert;
  alert.outcome = {AlertTransition::kCleared, "a-1", 0.5};
  alert.cleared_reason = ClearedReason::kPurchased;
  v1::ChurnAlert message;
  ToProto(alert, &message);

  v1::ChurnAlert unknown = message;
  unknown.set_transition(static_cast<v1::AlertTransition>(7));  // a later version's
  absl::StatusOr<AlertEvent> back = FromProto(unknown);
  EXPECT_EQ(back.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(back.status().message(), ::testing::HasSubstr("unknown transition 7"));

  v1::ChurnAlert bad_reason = message;
  bad_reason.set_cleared_reason("BORED");
  back = FromProto(bad_reason);
  EXPECT_EQ(back.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(back.status().message(), ::testing::HasSubstr("unknown cleared reason 'BORED'"));

  v1::ChurnAlert no_reason = message;
  no_reason.clear_cleared_reason();
  EXPECT_FALSE(FromProto(no_reason).ok());
}

TEST(AlertCodecTest, WhyAnAlertIsNotForMarketingRoundTrips) {
  for (MarketingExclusion exclusion : kMarketingExclusions) {
    AlertEvent alert;
    alert.outcome.alert_id = "a-1";
    alert.action = RecommendedAction::kWinBack;
    alert.channel = Channel::kEmail;
    alert.exclusion = exclusion;
    v1::ChurnAlert message;
    ToProto(alert, &message);
    const std::string_view name = MarketingExclusionName(exclusion);
    EXPECT_EQ(message.for_marketing(), exclusion == MarketingExclusion::kNone) << name;
    EXPECT_EQ(message.control(), exclusion == MarketingExclusion::kControlGroup) << name;
    EXPECT_EQ(message.not_for_marketing_reason(), name);
    const absl::StatusOr<AlertEvent> back = FromProto(message);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->exclusion, exclusion) << name;
  }
}

TEST(AlertCodecTest, AnOlderAlertNotForMarketingTakesItsReasonFromItsAction) {
  v1::ChurnAlert message;  // written before the reason existed
  message.set_segment("A");
  message.set_recommended_action("NONE");
  message.set_for_marketing(false);
  absl::StatusOr<AlertEvent> back = FromProto(message);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->exclusion, MarketingExclusion::kNoAction);
  message.set_recommended_action("WIN_BACK");
  back = FromProto(message);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->exclusion, MarketingExclusion::kNoConsentedChannel);
  message.set_for_marketing(true);
  back = FromProto(message);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->exclusion, MarketingExclusion::kNone);
}

TEST(AlertCodecTest, AReasonNotToMarketThatIsUnknownOrDisagreesIsRefused) {
  v1::ChurnAlert message;
  message.set_segment("A");
  message.set_recommended_action("WIN_BACK");
  message.set_not_for_marketing_reason("LATER");
  EXPECT_THAT(FromProto(message).status().message(), ::testing::HasSubstr("LATER"));
  message.set_not_for_marketing_reason("CONTROL_GROUP");
  message.set_for_marketing(true);  // yet a reason not to
  EXPECT_FALSE(FromProto(message).ok());
  message.set_for_marketing(false);  // control left false
  EXPECT_FALSE(FromProto(message).ok());
  message.set_control(true);
  EXPECT_TRUE(FromProto(message).ok());
  message.set_not_for_marketing_reason("CONTACT_PRESSURE");  // control yet another reason
  EXPECT_FALSE(FromProto(message).ok());
}

TEST(AlertCodecTest, AnUnknownChannelOnTheWireIsNoChannel) {
  AlertEvent alert;
  alert.exclusion = MarketingExclusion::kNoConsentedChannel;
  v1::ChurnAlert message;
  ToProto(alert, &message);
  message.set_recommended_channel(static_cast<v1::Channel>(99));  // unknown on the wire
  const absl::StatusOr<AlertEvent> back = FromProto(message);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->channel, Channel::kUnspecified);
}

TEST(AlertCodecTest, EverySegmentAndActionTravelsByItsName) {
  for (Segment segment : kSegments) {
    for (RecommendedAction action : kRecommendedActions) {
      AlertEvent alert;
      alert.segment = segment;
      alert.action = action;
      v1::ChurnAlert message;
      ToProto(alert, &message);
      EXPECT_EQ(message.segment(), SegmentName(segment));
      EXPECT_EQ(message.recommended_action(), RecommendedActionName(action));
      const absl::StatusOr<AlertEvent> back = FromProto(message);
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_EQ(back->segment, segment);
      EXPECT_EQ(back->action, action);
    }
  }
}

TEST(AlertCodecTest, AnUnknownSegmentOrActionIsRefused) {
  AlertEvent alert;
  alert.segment = Segment::kB;
  alert.action = RecommendedAction::kRetain;
  v1::ChurnAlert message;
  ToProto(alert, &message);

  v1::ChurnAlert bad_segment = message;
  bad_segment.set_segment("D");
  absl::StatusOr<AlertEvent> back = FromProto(bad_segment);
  EXPECT_EQ(back.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(back.status().message(), ::testing::HasSubstr("unknown segment 'D'"));

  v1::ChurnAlert bad_action = message;
  bad_action.set_recommended_action("win_back");  // names are case-sensitive
  back = FromProto(bad_action);
  EXPECT_EQ(back.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(back.status().message(),
              ::testing::HasSubstr("unknown recommended action 'win_back'"));

  v1::ChurnAlert no_action = message;
  no_action.clear_recommended_action();
  EXPECT_FALSE(FromProto(no_action).ok());
}

}  // namespace
}  // namespace crm
