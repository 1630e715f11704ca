#include "core/marketing.h"

#include <gtest/gtest.h>

#include <string>

#include "core/customer_state.h"
#include "core/uplift.h"
#include "tests/core/test_touchpoints.h"

namespace crm {
namespace {

using testing::Day;
using testing::MakeTouchpoint;
using Type = TouchpointType;

TEST(MarketingTest, ExclusionNamesRoundTrip) {
  for (MarketingExclusion exclusion : kMarketingExclusions) {
    EXPECT_EQ(ParseMarketingExclusion(MarketingExclusionName(exclusion)), exclusion);
  }
  EXPECT_EQ(MarketingExclusionName(MarketingExclusion::kNone), "");
  EXPECT_EQ(MarketingExclusionName(MarketingExclusion::kContactPressure), "CONTACT_PRESSURE");
  EXPECT_FALSE(ParseMarketingExclusion("control_group"));
  EXPECT_FALSE(ParseMarketingExclusion("UNKNOWN"));
}

TEST(MarketingTest, ContactsOfTheLast30DaysUpToTheMoment) {
  CustomerState state;
  for (double day : {1.0, 10.0, 20.0, 35.0, 40.0}) {
    Touchpoint contact = MakeTouchpoint(Type::kCampaignContact, "k" + std::to_string(day), day);
    ASSERT_EQ(ApplyTouchpoint(contact, StateLimits{}, state), ApplyOutcome::kApplied);
  }
  EXPECT_EQ(CampaignContacts30d(state, Day(0)), 0u);
  EXPECT_EQ(CampaignContacts30d(state, Day(20)), 3u);  // 1, 10 and 20, the moment included
  EXPECT_EQ(CampaignContacts30d(state, Day(31)), 2u);  // day 1 is 30 days old: out
  EXPECT_EQ(CampaignContacts30d(state, Day(45)), 3u);  // 20, 35, 40; none after the moment
  EXPECT_EQ(CampaignContacts30d(state, Day(100)), 0u);
}

TEST(MarketingTest, TheFirstReasonExcludesInItsOrder) {
  const MarketingPolicy policy{/*control_share=*/0.5, /*max_contacts_30d=*/4};
  // Find one alert id in the control group and one out of it.
  std::string held;
  std::string treated;
  for (int i = 0; held.empty() || treated.empty(); ++i) {
    const std::string id = "alert-" + std::to_string(i);
    (InControlGroup(id, policy.control_share) ? held : treated) = id;
  }
  const auto exclusion = [&](const std::string& id, RecommendedAction action, Channel channel,
                             std::uint32_t contacts) {
    return ExclusionOf(id, action, channel, contacts, policy);
  };
  const auto win_back = RecommendedAction::kWinBack;
  EXPECT_EQ(exclusion(treated, win_back, Channel::kEmail, 4), MarketingExclusion::kNone);
  EXPECT_EQ(exclusion(held, win_back, Channel::kEmail, 4), MarketingExclusion::kControlGroup);
  EXPECT_EQ(exclusion(held, win_back, Channel::kEmail, 5), MarketingExclusion::kContactPressure);
  EXPECT_EQ(exclusion(treated, win_back, Channel::kUnspecified, 5),
            MarketingExclusion::kNoConsentedChannel);
  EXPECT_EQ(exclusion(held, RecommendedAction::kNone, Channel::kUnspecified, 5),
            MarketingExclusion::kNoAction);
  // No limit at 0; no control group at a share of 0.
  EXPECT_EQ(ExclusionOf(treated, win_back, Channel::kEmail, 60, {0.5, 0}),
            MarketingExclusion::kNone);
  EXPECT_EQ(ExclusionOf(held, win_back, Channel::kEmail, 0, {0.0, 4}), MarketingExclusion::kNone);
}

}  // namespace
}  // namespace crm
