#pragma once

#include <string>

#include "core/touchpoint.h"

namespace crm::testing {

// 2026-01-01T00:00:00Z plus `days` (fractional).
inline Timestamp Day(double days) {
  return FromMicros(1767225600LL * 1'000'000 + static_cast<std::int64_t>(days * 86400e6));
}

// A valid touchpoint of `type` for customer "c1" at Day(day).
inline Touchpoint MakeTouchpoint(TouchpointType type, std::string event_id, double day,
                                 Channel channel = Channel::kWeb) {
  Touchpoint tp;
  tp.event_id = std::move(event_id);
  tp.customer_id = CustomerId("c1");
  tp.occurred_at = Day(day);
  tp.channel = channel;
  tp.type = type;
  if (type == TouchpointType::kPurchase || type == TouchpointType::kReturn) tp.amount = 10;
  if (type == TouchpointType::kSurvey) tp.satisfaction = 7;
  if (type == TouchpointType::kConsent) tp.consent_granted = true;
  if (type == TouchpointType::kCampaignContact) tp.campaign_id = "WINTER-26";
  return tp;
}

}  // namespace crm::testing
