#include "core/marketing.h"

#include <algorithm>
#include <chrono>

#include "core/closed_set.h"
#include "core/uplift.h"

namespace crm {
namespace {

constexpr std::array<std::string_view, kMarketingExclusions.size()> kExclusionNames = {
    "", "NO_ACTION", "NO_CONSENTED_CHANNEL", "CONTACT_PRESSURE", "CONTROL_GROUP"};

}  // namespace

std::string_view MarketingExclusionName(MarketingExclusion exclusion) {
  return kExclusionNames[static_cast<std::size_t>(exclusion)];
}

std::optional<MarketingExclusion> ParseMarketingExclusion(std::string_view name) {
  return ParseByName(kMarketingExclusions, MarketingExclusionName, name);
}

std::uint32_t CampaignContacts30d(const CustomerState& state, Timestamp as_of) {
  const Timestamp since = as_of - std::chrono::days(kContactPressureDays);
  return static_cast<std::uint32_t>(
      std::count_if(state.recent_campaign_contacts.begin(), state.recent_campaign_contacts.end(),
                    [&](Timestamp at) { return at > since && at <= as_of; }));
}

MarketingExclusion ExclusionOf(std::string_view alert_id, RecommendedAction action, Channel channel,
                               std::uint32_t contacts_30d, const MarketingPolicy& policy) {
  if (action == RecommendedAction::kNone) return MarketingExclusion::kNoAction;
  if (channel == Channel::kUnspecified) return MarketingExclusion::kNoConsentedChannel;
  if (policy.max_contacts_30d > 0 && contacts_30d > policy.max_contacts_30d) {
    return MarketingExclusion::kContactPressure;
  }
  if (InControlGroup(alert_id, policy.control_share)) return MarketingExclusion::kControlGroup;
  return MarketingExclusion::kNone;
}

}  // namespace crm
