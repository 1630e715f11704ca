#include "tools/demo/campaign.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace crm::demo {

CampaignTool::CampaignTool(CampaignOptions options) : options_(options), rng_(options.seed) {}

std::vector<Touchpoint> CampaignTool::Respond(const RaisedAlert& alert, Timestamp not_before) {
  std::vector<Touchpoint> touchpoints;
  if (!alert.for_marketing && !alert.control) return touchpoints;
  std::uniform_real_distribution<double> unit(0, 1);
  if (alert.for_marketing) {
    Touchpoint& contact = touchpoints.emplace_back();
    contact.event_id = "campaign-" + alert.alert_id + "-contact";
    contact.customer_id = alert.customer;
    contact.type = TouchpointType::kCampaignContact;
    contact.channel = alert.channel != Channel::kUnspecified ? alert.channel : Channel::kEmail;
    contact.campaign_id = alert.alert_id;
    contact.occurred_at = std::max(alert.raised_at + FromDays(1), not_before);
  }
  const double back = alert.control ? options_.control_return : options_.treated_return;
  if (unit(rng_) < back) {
    Touchpoint& purchase = touchpoints.emplace_back();
    purchase.event_id = "campaign-" + alert.alert_id + "-back";
    purchase.customer_id = alert.customer;
    purchase.type = TouchpointType::kPurchase;
    purchase.channel = Channel::kWeb;
    purchase.product = "MOBILE-PLAN";
    purchase.amount = 20 + std::round(130 * unit(rng_));
    // Within the 30-day window: two days to three weeks after the alert.
    purchase.occurred_at = std::max(alert.raised_at + FromDays(2 + 19 * unit(rng_)), not_before);
    if (touchpoints.size() == 2 && purchase.occurred_at < touchpoints.front().occurred_at) {
      std::swap(touchpoints.front(), touchpoints.back());
    }
  }
  return touchpoints;
}

}  // namespace crm::demo
