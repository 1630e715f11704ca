#include "services/codec/alert_codec.h"

#include <string>

#include "core/bounded_text.h"
#include "services/codec/touchpoint_codec.h"

namespace crm {

void ToProto(const AlertEvent& alert, v1::ChurnAlert* out) {
  out->set_alert_id(alert.outcome.alert_id);
  out->set_customer_id(alert.customer_id.value());
  ToProtoTime(alert.at, out->mutable_raised_at());
  out->set_churn(alert.churn);
  out->set_previous_churn(alert.outcome.previous_churn);
  for (const ScoreReason& reason : alert.reasons) {
    v1::Reason* r = out->add_reasons();
    r->set_code(reason.code);
    r->set_sentence(reason.sentence);
    r->set_weight(reason.weight);
  }
  out->set_recommended_action(std::string(RecommendedActionName(alert.action)));
  out->set_recommended_channel(static_cast<v1::Channel>(alert.channel));
  out->set_model_version(alert.model_version);
  out->set_segment(std::string(SegmentName(alert.segment)));
  out->set_for_marketing(alert.channel != Channel::kUnspecified &&
                         alert.action != RecommendedAction::kNone);
  out->set_transition(alert.outcome.transition == AlertTransition::kCleared
                          ? v1::ALERT_TRANSITION_CLEARED
                          : v1::ALERT_TRANSITION_RAISED);
  if (alert.cleared_reason) {
    out->set_cleared_reason(std::string(ClearedReasonName(*alert.cleared_reason)));
  }
}

absl::StatusOr<AlertEvent> FromProto(const v1::ChurnAlert& alert) {
  const std::optional<Segment> segment = ParseSegment(alert.segment());
  if (!segment) {
    return absl::InvalidArgumentError("alert names an unknown segment '" +
                                      BoundedText(alert.segment(), 64) + "'");
  }
  const std::optional<RecommendedAction> action =
      ParseRecommendedAction(alert.recommended_action());
  if (!action) {
    return absl::InvalidArgumentError("alert names an unknown recommended action '" +
                                      BoundedText(alert.recommended_action(), 64) + "'");
  }
  AlertEvent out;
  switch (alert.transition()) {
    case v1::ALERT_TRANSITION_UNSPECIFIED:  // written before clears existed
    case v1::ALERT_TRANSITION_RAISED:
      out.outcome.transition = AlertTransition::kRaised;
      break;
    case v1::ALERT_TRANSITION_CLEARED:
      out.outcome.transition = AlertTransition::kCleared;
      out.cleared_reason = ParseClearedReason(alert.cleared_reason());
      if (!out.cleared_reason) {
        return absl::InvalidArgumentError("cleared alert names an unknown cleared reason '" +
                                          BoundedText(alert.cleared_reason(), 64) + "'");
      }
      break;
    default:
      return absl::InvalidArgumentError("alert has an unknown transition " +
                                        std::to_string(static_cast<int>(alert.transition())));
  }
  out.customer_id = CustomerId(alert.customer_id());
  out.outcome.alert_id = alert.alert_id();
  out.outcome.previous_churn = alert.previous_churn();
  out.at = FromProtoTime(alert.raised_at());
  out.churn = alert.churn();
  out.segment = *segment;
  out.action = *action;
  const int channel = alert.recommended_channel();
  out.channel = channel > 0 && channel < kChannelCount ? static_cast<Channel>(channel)
                                                       : Channel::kUnspecified;
  for (const v1::Reason& reason : alert.reasons()) {
    out.reasons.push_back({reason.code(), reason.sentence(), reason.weight()});
  }
  out.model_version = alert.model_version();
  return out;
}

}  // namespace crm
