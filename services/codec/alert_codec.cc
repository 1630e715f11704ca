#include "services/codec/alert_codec.h"

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
  out->set_recommended_action(alert.action);
  out->set_recommended_channel(static_cast<v1::Channel>(alert.channel));
  out->set_model_version(alert.model_version);
  out->set_segment(alert.segment);
  out->set_for_marketing(alert.channel != Channel::kUnspecified);
}

AlertEvent FromProto(const v1::ChurnAlert& alert) {
  AlertEvent out;
  out.customer_id = CustomerId(alert.customer_id());
  out.outcome.transition = AlertTransition::kRaised;
  out.outcome.alert_id = alert.alert_id();
  out.outcome.previous_churn = alert.previous_churn();
  out.at = FromProtoTime(alert.raised_at());
  out.churn = alert.churn();
  out.segment = alert.segment();
  out.action = alert.recommended_action();
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
