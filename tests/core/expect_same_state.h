#pragma once

#include <gtest/gtest.h>

#include "core/customer_state.h"

namespace crm::testing {

// Compares two customer states field by field (CustomerState has no
// operator==), naming the channel or product of a difference.
inline void ExpectSameState(const CustomerState& want, const CustomerState& got) {
  EXPECT_EQ(got.partition, want.partition);
  EXPECT_EQ(got.events_applied, want.events_applied);
  EXPECT_EQ(got.first_seen, want.first_seen);
  EXPECT_EQ(got.last_seen, want.last_seen);
  EXPECT_EQ(got.first_purchase, want.first_purchase);
  EXPECT_EQ(got.last_purchase, want.last_purchase);
  EXPECT_EQ(got.purchases, want.purchases);
  EXPECT_EQ(got.purchase_days, want.purchase_days);
  EXPECT_EQ(got.purchase_amount, want.purchase_amount);
  EXPECT_EQ(got.first_day_amount, want.first_day_amount);
  EXPECT_EQ(got.returns, want.returns);
  EXPECT_EQ(got.return_amount, want.return_amount);
  EXPECT_EQ(got.complaints, want.complaints);
  EXPECT_EQ(got.recent_complaints, want.recent_complaints);
  EXPECT_EQ(got.surveys, want.surveys);
  EXPECT_EQ(got.recent_satisfaction, want.recent_satisfaction);
  EXPECT_EQ(got.cancellations, want.cancellations);
  EXPECT_EQ(got.last_cancellation, want.last_cancellation);
  EXPECT_EQ(got.campaign_responses, want.campaign_responses);
  EXPECT_EQ(got.campaign_contacts, want.campaign_contacts);
  EXPECT_EQ(got.recent_campaign_contacts, want.recent_campaign_contacts);
  for (int c = 0; c < kChannelCount; ++c) {
    SCOPED_TRACE(ChannelName(static_cast<Channel>(c)));
    EXPECT_EQ(got.channels[c].contacts, want.channels[c].contacts);
    EXPECT_EQ(got.channels[c].last_contact, want.channels[c].last_contact);
    EXPECT_EQ(got.channels[c].consent, want.channels[c].consent);
    EXPECT_EQ(got.channels[c].consent_at, want.channels[c].consent_at);
    // Fading sums: equal up to rounding when the same contacts came in another order.
    EXPECT_DOUBLE_EQ(got.channels[c].recent_activity, want.channels[c].recent_activity);
    EXPECT_DOUBLE_EQ(got.channels[c].usual_activity, want.channels[c].usual_activity);
  }
  ASSERT_EQ(got.products.size(), want.products.size());
  for (const auto& [name, p] : want.products) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(got.products.contains(name));
    const ProductStats& q = got.products.at(name);
    EXPECT_EQ(q.purchases, p.purchases);
    EXPECT_EQ(q.interactions, p.interactions);
    EXPECT_EQ(q.returns, p.returns);
    EXPECT_EQ(q.cancellations, p.cancellations);
    EXPECT_EQ(q.last_at, p.last_at);
  }
  EXPECT_EQ(got.profile, want.profile);
  EXPECT_EQ(got.recent_events, want.recent_events);
  EXPECT_EQ(got.alert, want.alert);
}

}  // namespace crm::testing
