#pragma once

// What followed each alert of the campaign loop: whether the customer was
// contacted, whether they bought within the outcome window after the alert,
// and for how much. Kept with the customer's alert state, so that it commits
// with the touchpoints that make it (exactly once) and is restored with the
// partition; summed into the treated and control groups of GetAlertOutcomes.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/recommended_action.h"
#include "core/segment.h"
#include "core/time.h"
#include "core/touchpoint.h"

namespace crm {

// One alert of the experiment: a raise for marketing (treated) or held out
// (control). Alerts excluded for another reason are not followed up. Or one
// offer campaign's target (`campaign_id` set): contacted (treated) or held
// out (control), from the first CAMPAIGN_CONTACT of the campaign applied,
// recovered by a purchase of the offered `product`; its number is
// OfferNumber(campaign_id), its action and segment none.
struct AlertFollowUp {
  std::uint64_t number = 0;  // the alert is AlertId(customer, number)
  Timestamp raised_at{};
  bool control = false;
  RecommendedAction action = RecommendedAction::kNone;
  Segment segment = Segment::kNone;
  std::uint32_t contacts = 0;             // campaign contacts within the window
  std::optional<Timestamp> recovered_at;  // the first purchase within the window
  double revenue = 0;                     // the purchases within the window
  std::string campaign_id;                // an offer campaign's: its code
  std::string product;                    // and the offer
  friend bool operator==(const AlertFollowUp&, const AlertFollowUp&) = default;
};

// The number of an offer campaign's follow-up: a hash of its code with the
// top bit set, which no alert number reaches.
std::uint64_t OfferNumber(std::string_view campaign_id);

// The follow-ups a customer keeps, alerts' and offer campaigns' alike,
// latest first: with alerts at least a cooldown (14 days by default) apart,
// 16 cover more than seven months, past any outcome window.
inline constexpr std::size_t kMaxFollowUps = 16;

// How long after an alert a purchase counts as its customer recovered.
inline constexpr Micros kDefaultOutcomeWindow = std::chrono::days(30);

// Starts following up the alert just raised (latest first, bounded).
void StartFollowUp(const AlertFollowUp& follow_up, std::vector<AlertFollowUp>& follow_ups);

// Counts `touchpoint` (applied, not a duplicate) in the follow-ups whose
// window [raised_at, raised_at + window) holds its event time: a purchase
// recovers and adds its amount (an offer campaign's: a purchase of its
// product), a campaign contact made is counted (an offer campaign's: one of
// the campaign). A campaign contact with a product and a campaign_id no
// follow-up has starts that campaign's, treated or held out. Order of
// arrival does not matter but for where a campaign's window starts: at the
// first of its contacts applied. Returns whether any follow-up changed.
bool FollowUp(const Touchpoint& touchpoint, Micros window, std::vector<AlertFollowUp>& follow_ups);

// How a customer's follow-ups moved, for the outcome index: `gone`, those
// of `from` whose alert is not in `to`; `come`, those of `to` new or
// changed. Null: no follow-ups.
struct FollowUpMoves {
  std::vector<const AlertFollowUp*> gone;
  std::vector<const AlertFollowUp*> come;
};
FollowUpMoves FollowUpsMoved(const std::vector<AlertFollowUp>* from,
                             const std::vector<AlertFollowUp>* to);

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
// segment (each unset: any); with `campaign`, that offer campaign's
// follow-ups instead of the alerts'.
struct OutcomeFilter {
  std::optional<Timestamp> since;
  std::optional<Timestamp> until;
  std::optional<RecommendedAction> action;
  std::optional<Segment> segment;
  std::optional<std::string> campaign;
};

// The totals of the alerts a filter took, and the same by week of raising
// (keyed by the week's Monday, 00:00 UTC).
struct OutcomeReport {
  OutcomeTotals all;
  std::map<Timestamp, OutcomeTotals> weeks;
  friend bool operator==(const OutcomeReport&, const OutcomeReport&) = default;
};

// The Monday, 00:00 UTC, of the week of `at`.
Timestamp WeekOf(Timestamp at);

// Adds the follow-up, if `filter` takes it, to its group of `report`.
void Tally(const AlertFollowUp& follow_up, const OutcomeFilter& filter, OutcomeReport& report);

// What a customer's follow-ups going from `before` to `after` added to each
// group: alerts newly followed, newly contacted, newly recovered, and
// revenue. Follow-ups that went (bounded out) take nothing away.
void AddProgress(const std::vector<AlertFollowUp>& before, const std::vector<AlertFollowUp>& after,
                 OutcomeTotals& added);

// Adds `from` to `to`: sums of disjoint sets of alerts.
void Merge(const OutcomeReport& from, OutcomeReport& to);

}  // namespace crm
