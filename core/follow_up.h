#pragma once

// What followed each alert of the campaign loop: whether the customer was
// contacted, whether they bought within the outcome window after the alert,
// and for how much. Kept with the customer's alert state, so that it commits
// with the touchpoints that make it (exactly once) and is restored with the
// partition; summed into the treated and control groups of GetAlertOutcomes.

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/recommended_action.h"
#include "core/segment.h"
#include "core/time.h"
#include "core/touchpoint.h"

namespace crm {

// One alert of the experiment: a raise for marketing (treated) or held out
// (control). Alerts excluded for another reason are not followed up.
struct AlertFollowUp {
  std::uint64_t number = 0;  // the alert is AlertId(customer, number)
  Timestamp raised_at{};
  bool control = false;
  RecommendedAction action = RecommendedAction::kNone;
  Segment segment = Segment::kNone;
  std::uint32_t contacts = 0;             // campaign contacts within the window
  std::optional<Timestamp> recovered_at;  // the first purchase within the window
  double revenue = 0;                     // the purchases within the window
  friend bool operator==(const AlertFollowUp&, const AlertFollowUp&) = default;
};

// The follow-ups a customer keeps, latest raised first: with alerts at
// least a cooldown (14 days by default) apart, 16 cover more than seven
// months, past any outcome window.
inline constexpr std::size_t kMaxFollowUps = 16;

// How long after an alert a purchase counts as its customer recovered.
inline constexpr Micros kDefaultOutcomeWindow = std::chrono::days(30);

// Starts following up the alert just raised (latest first, bounded).
void StartFollowUp(const AlertFollowUp& follow_up, std::vector<AlertFollowUp>& follow_ups);

// Counts `touchpoint` (applied, not a duplicate) in the follow-ups whose
// window [raised_at, raised_at + window) holds its event time: a purchase
// recovers and adds its amount, a campaign contact is counted. Order of
// arrival does not matter. Returns whether any follow-up changed.
bool FollowUp(const Touchpoint& touchpoint, Micros window, std::vector<AlertFollowUp>& follow_ups);

// One group's outcomes: its alerts, how many were contacted, how many
// recovered, and the revenue of the purchases within their windows.
struct OutcomeGroup {
  std::uint64_t alerts = 0;
  std::uint64_t contacted = 0;
  std::uint64_t recovered = 0;
  double revenue = 0;
  friend bool operator==(const OutcomeGroup&, const OutcomeGroup&) = default;
};

struct OutcomeTotals {
  OutcomeGroup treated;
  OutcomeGroup control;
  friend bool operator==(const OutcomeTotals&, const OutcomeTotals&) = default;
};

// Which alerts a tally takes: raised in [since, until), of an action, of a
// segment (each unset: any).
struct OutcomeFilter {
  std::optional<Timestamp> since;
  std::optional<Timestamp> until;
  std::optional<RecommendedAction> action;
  std::optional<Segment> segment;
};

// Adds the follow-ups `filter` takes to `totals`, each to its group.
void Tally(const std::vector<AlertFollowUp>& follow_ups, const OutcomeFilter& filter,
           OutcomeTotals& totals);

}  // namespace crm
