#include "services/codec/alert_codec.h"

#include <string>

#include "core/bounded_text.h"
#include "services/codec/touchpoint_codec.h"

namespace crm {
namespace {

// Why the alert is not for marketing, as its fields say. An alert written
// before the reason existed has none: its action or channel tells.
absl::StatusOr<MarketingExclusion> ExclusionOf(const v1::ChurnAlert& alert,
                                               RecommendedAction action) {
  const std::optional<MarketingExclusion> named =
      ParseMarketingExclusion(alert.not_for_marketing_reason());
  if (!named) {
    return absl::InvalidArgumentError("alert names an unknown reason not to market '" +
                                      BoundedText(alert.not_for_marketing_reason(), 64) + "'");
  }
  MarketingExclusion exclusion = *named;
  if (exclusion == MarketingExclusion::kNone && !alert.for_marketing()) {
    exclusion = action == RecommendedAction::kNone ? MarketingExclusion::kNoAction
                                                   : MarketingExclusion::kNoConsentedChannel;
  }
  if ((exclusion == MarketingExclusion::kNone) != alert.for_marketing() ||
      (exclusion == MarketingExclusion::kControlGroup) != alert.control()) {
    return absl::InvalidArgumentError(
        "alert's for_marketing, control and not_for_marketing_reason disagree");
  }
  return exclusion;
}

}  // namespace

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
  out->set_for_marketing(alert.exclusion == MarketingExclusion::kNone);
  out->set_control(alert.exclusion == MarketingExclusion::kControlGroup);
  out->set_not_for_marketing_reason(std::string(MarketingExclusionName(alert.exclusion)));
  out->set_transition(alert.outcome.transition == AlertTransition::kCleared
                          ? v1::ALERT_TRANSITION_CLEARED
                          : v1::ALERT_TRANSITION_RAISED);
  if (alert.cleared_reason) {
    out->set_cleared_reason(std::string(ClearedReasonName(*alert.cleared_reason)));
  }
  out->set_value_at_risk(alert.value_at_risk);
  out->set_clv(alert.clv);
  out->set_value_quadrant(std::string(ValueQuadrantName(alert.quadrant)));
  out->set_lifecycle_stage(std::string(LifecycleStageName(alert.lifecycle_stage)));
  out->set_p_alive(alert.p_alive);
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
  // Alerts published before they carried the quadrant and the stage leave
  // them empty: the defaults stand.
  const std::optional<ValueQuadrant> quadrant = alert.value_quadrant().empty()
                                                    ? ValueQuadrant::kUndesirable
                                                    : ParseValueQuadrant(alert.value_quadrant());
  if (!quadrant) {
    return absl::InvalidArgumentError("alert names an unknown value quadrant '" +
                                      BoundedText(alert.value_quadrant(), 64) + "'");
  }
  const std::optional<LifecycleStage> stage = alert.lifecycle_stage().empty()
                                                  ? LifecycleStage::kProspect
                                                  : ParseLifecycleStage(alert.lifecycle_stage());
  if (!stage) {
    return absl::InvalidArgumentError("alert names an unknown lifecycle stage '" +
                                      BoundedText(alert.lifecycle_stage(), 64) + "'");
  }
  const absl::StatusOr<MarketingExclusion> exclusion = ExclusionOf(alert, *action);
  if (!exclusion.ok()) return exclusion.status();
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
  out.exclusion = *exclusion;
  const int channel = alert.recommended_channel();
  out.channel = channel > 0 && channel < kChannelCount ? static_cast<Channel>(channel)
                                                       : Channel::kUnspecified;
  for (const v1::Reason& reason : alert.reasons()) {
    out.reasons.push_back({reason.code(), reason.sentence(), reason.weight()});
  }
  out.model_version = alert.model_version();
  out.value_at_risk = alert.value_at_risk();
  out.clv = alert.clv();
  out.quadrant = *quadrant;
  out.lifecycle_stage = *stage;
  out.p_alive = alert.p_alive();
  return out;
}

}  // namespace crm
