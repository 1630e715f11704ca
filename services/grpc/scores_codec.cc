#include "services/grpc/scores_codec.h"

#include "core/alerts.h"
#include "services/codec/touchpoint_codec.h"

namespace crm {
namespace {

void AddReasons(const std::vector<ScoreReason>& reasons,
                google::protobuf::RepeatedPtrField<v1::Reason>* out) {
  for (const ScoreReason& reason : reasons) {
    v1::Reason* r = out->Add();
    r->set_code(reason.code);
    r->set_sentence(reason.sentence);
    r->set_weight(reason.weight);
  }
}

}  // namespace

void ToProto(const Scores& scores, std::string_view product, v1::OfferTarget* out) {
  out->set_customer_id(scores.customer_id.value());
  for (const AppetenceScore& appetence : scores.appetence_details) {
    if (appetence.product != product) continue;
    out->set_probability(appetence.probability);
    AddReasons(appetence.reasons, out->mutable_reasons());
  }
  for (Channel channel : scores.contactable_channels) {
    out->add_contactable_channels(static_cast<v1::Channel>(channel));
  }
  out->set_value_at_risk(scores.value_at_risk);
  out->set_clv(scores.clv);
}

void ToProto(const Scores& scores, v1::CustomerScores* out) {
  out->set_customer_id(scores.customer_id.value());
  ToProtoTime(scores.as_of, out->mutable_as_of());
  if (scores.churn) out->set_churn(*scores.churn);
  out->set_p_alive(scores.p_alive);
  for (const auto& [offer, score] : scores.appetence) (*out->mutable_appetence())[offer] = score;
  v1::Rfm* rfm = out->mutable_rfm();
  rfm->set_recency_days(scores.rfm.recency_days);
  rfm->set_frequency(scores.rfm.frequency);
  rfm->set_monetary(scores.rfm.monetary);
  rfm->set_r_score(scores.rfm.r_score);
  rfm->set_f_score(scores.rfm.f_score);
  rfm->set_m_score(scores.rfm.m_score);
  rfm->set_purchases(scores.rfm.purchases);
  rfm->set_revenue(scores.rfm.revenue);
  rfm->set_product_types(scores.rfm.product_types);
  rfm->set_t_score(scores.rfm.t_score);
  out->set_clv(scores.clv);
  out->set_segment(std::string(SegmentName(scores.segment)));
  out->set_value_quadrant(std::string(ValueQuadrantName(scores.quadrant)));
  out->set_lifecycle_stage(std::string(LifecycleStageName(scores.lifecycle_stage)));
  out->set_preferred_channel(static_cast<v1::Channel>(scores.preferred_channel));
  AddReasons(scores.reasons, out->mutable_reasons());
  out->set_events_applied(scores.events_applied);
  out->set_model_version(scores.model_version);
  out->set_expected_purchases(scores.expected_purchases);
  out->set_expected_spend(scores.expected_spend);
  out->set_past_profitability(scores.past_profitability);
  out->set_value_strategy(std::string(ValueStrategy(scores.quadrant)));
  out->set_churn_horizon_days(scores.churn_horizon_days);
  out->set_value_at_risk(scores.value_at_risk);
  out->set_lifetime_value(scores.lifetime_value);
  out->set_cost_to_serve(scores.cost_to_serve);
  for (Channel channel : scores.contactable_channels) {
    out->add_contactable_channels(static_cast<v1::Channel>(channel));
  }
  if (scores.latest_satisfaction) out->set_latest_satisfaction(*scores.latest_satisfaction);
  out->set_complaints_90d(scores.complaints_90d);
  out->set_campaign_contacts_30d(scores.campaign_contacts_30d);
  out->set_control(scores.control);
  for (const AppetenceScore& appetence : scores.appetence_details) {
    v1::Appetence* a = out->add_appetence_details();
    a->set_product(appetence.product);
    a->set_probability(appetence.probability);
    AddReasons(appetence.reasons, a->mutable_reasons());
  }
}

void ToProto(const CustomerId& id, const CustomerState& s, v1::CustomerState* out) {
  auto time = [](const std::optional<Timestamp>& t, google::protobuf::Timestamp* field) {
    if (t) ToProtoTime(*t, field);
  };
  out->set_customer_id(id.value());
  out->set_events_applied(s.events_applied);
  if (s.first_seen) time(s.first_seen, out->mutable_first_seen());
  if (s.last_seen) time(s.last_seen, out->mutable_last_seen());
  if (s.first_purchase) time(s.first_purchase, out->mutable_first_purchase());
  if (s.last_purchase) time(s.last_purchase, out->mutable_last_purchase());
  out->set_purchases(s.purchases);
  out->set_purchase_days(s.purchase_days.size());
  out->set_purchase_amount(s.purchase_amount);
  out->set_returns(s.returns);
  out->set_return_amount(s.return_amount);
  out->set_complaints(s.complaints);
  if (!s.recent_complaints.empty())
    ToProtoTime(s.recent_complaints.front(), out->mutable_last_complaint());
  out->set_surveys(s.surveys);
  for (const SatisfactionSample& sample : s.recent_satisfaction) {
    out->add_recent_satisfaction(sample.score);
  }
  out->set_cancellations(s.cancellations);
  out->set_campaign_responses(s.campaign_responses);
  out->set_campaign_contacts(s.campaign_contacts);
  for (Timestamp t : s.recent_campaign_contacts) {
    ToProtoTime(t, out->add_recent_campaign_contacts());
  }
  for (const AlertFollowUp& follow_up : s.alert.follow_ups) {
    v1::AlertFollowUp* f = out->add_alert_follow_ups();
    if (follow_up.campaign_id.empty()) f->set_alert_id(AlertId(id, follow_up.number));
    f->set_campaign_id(follow_up.campaign_id);
    f->set_product(follow_up.product);
    ToProtoTime(follow_up.raised_at, f->mutable_raised_at());
    f->set_control(follow_up.control);
    f->set_recommended_action(std::string(RecommendedActionName(follow_up.action)));
    f->set_segment(std::string(SegmentName(follow_up.segment)));
    f->set_contacts(follow_up.contacts);
    if (follow_up.recovered_at) ToProtoTime(*follow_up.recovered_at, f->mutable_recovered_at());
    f->set_revenue(follow_up.revenue);
  }
  for (int c = 1; c < kChannelCount; ++c) {
    const ChannelStats& stats = s.channels[c];
    if (stats.contacts == 0 && !stats.consent) continue;
    v1::ChannelActivity* channel = out->add_channels();
    channel->set_channel(static_cast<v1::Channel>(c));
    channel->set_contacts(stats.contacts);
    if (stats.last_contact) time(stats.last_contact, channel->mutable_last_contact());
    if (stats.consent) channel->set_consent(*stats.consent);
  }
  for (const auto& [name, p] : s.products) {
    v1::ProductActivity* product = out->add_products();
    product->set_product(name);
    product->set_purchases(p.purchases);
    product->set_interactions(p.interactions);
    product->set_returns(p.returns);
    product->set_cancellations(p.cancellations);
    ToProtoTime(p.last_at, product->mutable_last_at());
  }
  for (const auto& [key, field] : s.profile) (*out->mutable_profile())[key] = field.value;
}

}  // namespace crm
