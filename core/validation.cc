#include "core/validation.h"

#include <array>
#include <cmath>

namespace crm {
namespace {

Rejection Reject(RejectReason reason, std::string_view detail) { return {reason, detail}; }

}  // namespace

std::string_view RejectReasonName(RejectReason reason) {
  static constexpr std::array<std::string_view, kRejectReasonCount> kNames = {
      "malformed",       "missing_customer_id", "key_mismatch",    "missing_event_id",
      "bad_timestamp",   "unknown_enum",        "bad_amount",      "bad_satisfaction",
      "missing_consent", "oversized",           "state_too_large", "bad_campaign_id"};
  return kNames[static_cast<std::size_t>(reason)];
}

std::optional<Rejection> ValidateTouchpoint(const Touchpoint& tp, std::string_view key,
                                            Timestamp now, const ValidationLimits& limits) {
  if (tp.customer_id.empty()) return Reject(RejectReason::kMissingCustomerId, "empty customer_id");
  if (tp.customer_id.value().size() > limits.max_id_bytes) {
    return Reject(RejectReason::kOversized, "customer_id longer than max_id_bytes");
  }
  if (tp.customer_id.value().front() == '\0') {
    // Keys of the changelog's own records start so.
    return Reject(RejectReason::kMalformed, "customer_id starts with a NUL byte");
  }
  if (key != tp.customer_id.value()) {
    return Reject(RejectReason::kKeyMismatch, "Kafka key differs from customer_id");
  }
  if (tp.event_id.empty()) return Reject(RejectReason::kMissingEventId, "empty event_id");
  if (tp.event_id.size() > limits.max_id_bytes) {
    return Reject(RejectReason::kOversized, "event_id longer than max_id_bytes");
  }
  if (static_cast<int>(tp.channel) >= kChannelCount ||
      static_cast<int>(tp.type) >= kTouchpointTypeCount) {
    return Reject(RejectReason::kUnknownEnum, "channel or type outside its enum");
  }
  if (tp.type == TouchpointType::kUnspecified) {
    return Reject(RejectReason::kUnknownEnum, "type is unspecified");
  }
  if (tp.occurred_at < limits.min_event_time) {
    return Reject(RejectReason::kBadTimestamp, "occurred_at before min_event_time");
  }
  if (tp.occurred_at > now + limits.max_future) {
    return Reject(RejectReason::kBadTimestamp, "occurred_at too far in the future");
  }
  if (tp.product.size() > limits.max_product_bytes) {
    return Reject(RejectReason::kOversized, "product longer than max_product_bytes");
  }
  if (tp.campaign_id.size() > limits.max_campaign_id_bytes) {
    return Reject(RejectReason::kOversized, "campaign_id longer than max_campaign_id_bytes");
  }
  if (tp.attributes.size() > limits.max_attributes) {
    return Reject(RejectReason::kOversized, "more attributes than max_attributes");
  }
  for (const auto& [k, v] : tp.attributes) {
    if (k.size() > limits.max_attribute_bytes || v.size() > limits.max_attribute_bytes) {
      return Reject(RejectReason::kOversized, "attribute longer than max_attribute_bytes");
    }
  }
  if (!std::isfinite(tp.amount) || tp.amount < 0 || tp.amount > limits.max_amount) {
    return Reject(RejectReason::kBadAmount, "amount is not a finite value in [0, max_amount]");
  }
  if (tp.satisfaction && (*tp.satisfaction < 0 || *tp.satisfaction > 10)) {
    return Reject(RejectReason::kBadSatisfaction, "satisfaction outside 0-10");
  }
  if (tp.type == TouchpointType::kSurvey && !tp.satisfaction) {
    return Reject(RejectReason::kBadSatisfaction, "survey without satisfaction");
  }
  if (tp.type == TouchpointType::kConsent &&
      (!tp.consent_granted || tp.channel == Channel::kUnspecified)) {
    return Reject(RejectReason::kMissingConsent, "consent without consent_granted or channel");
  }
  if (tp.type == TouchpointType::kCampaignContact && tp.campaign_id.empty()) {
    return Reject(RejectReason::kBadCampaignId, "campaign contact without campaign_id");
  }
  if (!tp.campaign_id.empty() && tp.type != TouchpointType::kCampaignContact &&
      tp.type != TouchpointType::kCampaignResponse) {
    return Reject(RejectReason::kBadCampaignId,
                  "campaign_id on a touchpoint neither a campaign contact nor a response");
  }
  if (tp.held_out && tp.type != TouchpointType::kCampaignContact) {
    return Reject(RejectReason::kBadCampaignId, "held_out on a touchpoint not a campaign contact");
  }
  return std::nullopt;
}

}  // namespace crm
