#pragma once

// Whether a raised alert may go to marketing automation, and why not: the
// action, the channel, the customer's contact pressure and the control group
// (core/uplift.h). A closed set with one name table: the names are what the
// wire carries in ChurnAlert.not_for_marketing_reason.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/customer_state.h"
#include "core/follow_up.h"
#include "core/recommended_action.h"
#include "core/time.h"
#include "core/touchpoint.h"

namespace crm {

// kNone: for marketing. Otherwise the first reason found, in this order:
// kNoAction (the action is NONE: nothing to do), kNoConsentedChannel (no
// channel to do it on), kContactPressure (contacted too often lately),
// kControlGroup (held out, so that the uplift can be measured).
enum class MarketingExclusion : std::uint8_t {
  kNone,
  kNoAction,
  kNoConsentedChannel,
  kContactPressure,
  kControlGroup,
};

inline constexpr std::array<MarketingExclusion, 5> kMarketingExclusions = {
    MarketingExclusion::kNone, MarketingExclusion::kNoAction,
    MarketingExclusion::kNoConsentedChannel, MarketingExclusion::kContactPressure,
    MarketingExclusion::kControlGroup};

// "" for kNone, then "NO_ACTION", "NO_CONSENTED_CHANNEL", "CONTACT_PRESSURE",
// "CONTROL_GROUP".
std::string_view MarketingExclusionName(MarketingExclusion exclusion);

// The exclusion MarketingExclusionName names ("" is kNone); nullopt for any
// other text.
std::optional<MarketingExclusion> ParseMarketingExclusion(std::string_view name);

// The window of contact pressure.
inline constexpr int kContactPressureDays = 30;

// The campaign contacts made in the kContactPressureDays days up to `as_of`
// (after as_of - 30 days, at or before as_of). Counted from the latest ones
// kept (StateLimits::recent_campaign_contacts), so it saturates there.
std::uint32_t CampaignContacts30d(const CustomerState& state, Timestamp as_of);

// The most --max-contacts-30d may be: the latest 64 contacts are kept, so
// "more than 63" is still seen.
inline constexpr std::uint32_t kMaxContacts30dLimit = 63;

struct MarketingPolicy {
  // The share of the alerts otherwise for marketing held out as the control
  // group, 0 to 0.5 (docs/campaigns.md says why 0.1).
  double control_share = 0.1;
  // A customer with more campaign contacts than this in 30 days is not
  // contacted again; 0: no limit (docs/campaigns.md says why 4).
  std::uint32_t max_contacts_30d = 4;
  // How long after an alert a purchase counts as its customer recovered
  // (core/follow_up.h).
  Micros outcome_window = kDefaultOutcomeWindow;
};

// Why the alert `alert_id` (action `action`, recommended channel `channel`,
// of a customer contacted `contacts_30d` times in 30 days) is not for
// marketing; kNone when it is. The control draw is a function of the alert
// id alone (InControlGroup), made among the alerts no other reason excludes.
MarketingExclusion ExclusionOf(std::string_view alert_id, RecommendedAction action, Channel channel,
                               std::uint32_t contacts_30d, const MarketingPolicy& policy);

}  // namespace crm
