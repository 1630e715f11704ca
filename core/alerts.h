#pragma once

// The at-risk alert policy: when a customer's churn opens or clears an alert
// (with hysteresis and a cooldown), what to recommend, on which channel, and
// when their churn next deserves a look with no new event of theirs. Pure: the
// caller persists AlertState with the customer's state, in the same batch.

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "core/alert_event.h"
#include "core/customer_id.h"
#include "core/customer_state.h"
#include "core/marketing.h"
#include "core/recommended_action.h"
#include "core/scorer.h"
#include "core/segment.h"
#include "core/time.h"
#include "core/touchpoint.h"

namespace crm {

struct AlertThresholds {
  double raise = 0.7;  // churn at or above this opens an alert…
  double clear = 0.5;  // …and below this closes it; clear < raise, so no flapping between
  // After an alert is raised, no other is raised for this customer before
  // this much time has passed, even if the first one cleared meanwhile.
  Micros cooldown = std::chrono::days(14);
};

struct AlertPolicy {
  AlertThresholds defaults;
  std::map<Segment, AlertThresholds> by_segment;
  // The relative cost of one contact on each channel (indexed by Channel),
  // for the recommended channel; must be positive.
  std::array<double, kChannelCount> channel_cost = {1, 4, 0.5, 0.5, 2, 3, 0.2, 10, 2, 0.3};
  // A customer is looked at again, with no event of theirs, once their churn
  // has moved this much since their last look: the at-risk index (ranked by
  // the churn of each customer's last look) stays this close to the truth.
  double risk_precision = 0.02;
  // From this value at risk (currency units) a customer is worth a personal
  // contact: their recommended channel is a personal one (phone, face to
  // face) when they consented to one.
  double personal_contact_value = 100;
  // Which raised alerts go to marketing: the control group, contact pressure.
  MarketingPolicy marketing;

  const AlertThresholds& For(Segment segment) const;
};

// OK, or InvalidArgument naming the first bad value (thresholds outside
// [0, 1], clear not below raise, a negative cooldown, a cost not positive, a
// risk precision outside (0, 1], a control share outside [0, 0.5], a
// contact limit above kMaxContacts30dLimit).
absl::Status ValidateAlertPolicy(const AlertPolicy& policy);

// The id of the `n`-th alert (1-based) raised for `id`: the same on every
// replay of the same history, distinct for every customer and crossing.
std::string AlertId(const CustomerId& id, std::uint64_t n);

// Updates the customer's alert on the churn of a look at `now`, under the
// thresholds of their segment; updates `state`.
AlertOutcome UpdateAlert(const CustomerId& id, double churn, Segment segment, Timestamp now,
                         const AlertPolicy& policy, AlertState& state);

// For a lost customer: REACTIVATE when valuable (profitable so far: the
// desirable or mature quadrant), NONE otherwise. For a customer at risk
// (churn at or above `raise`) still in development: ONBOARD. Otherwise
// WIN_BACK for a valuable customer at risk, RETAIN for one below it, DEVELOP
// for an under-developed one, NONE for an undesirable one (the strategy is to
// let go).
RecommendedAction RecommendAction(ValueQuadrant quadrant, LifecycleStage stage, double churn,
                                  const AlertThresholds& thresholds);

// Phone and face to face: the channels of a personal contact.
bool IsPersonalChannel(Channel channel);

// The channel to reach the customer on: among the channels they consented to
// (an explicit, latest consent), the one that maximises (contacts + 1) /
// cost — among the personal ones first when `value_at_risk` is at least
// policy.personal_contact_value; kUnspecified when they consented to none (not
// for marketing).
Channel RecommendedChannel(const CustomerState& state, double value_at_risk,
                           const AlertPolicy& policy);

// When the customer deserves a new look with no new event of theirs: the
// earliest moment in (now, now + horizon] at which `churn_at` (their churn as
// a function of time) would raise an alert (closed: at or above raise, and
// past the cooldown), clear it (open: below clear), or differ from the churn
// of this look (`state.last_churn`, the churn at `now`) by `precision` or
// more; found to the hour (by the Illinois method), assuming churn moves one
// way with silence; now +
// horizon when nothing happens before. A pure function of its arguments, so
// a replay schedules the same looks.
Timestamp NextLook(const std::function<double(Timestamp)>& churn_at, Timestamp now,
                   const AlertState& state, const AlertThresholds& thresholds, double precision,
                   Micros horizon);

}  // namespace crm
