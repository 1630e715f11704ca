#include "core/follow_up.h"

#include <algorithm>

#include "core/alerts.h"
#include "core/customer_state.h"

namespace crm {

void StartFollowUp(const AlertFollowUp& follow_up, std::vector<AlertFollowUp>& follow_ups) {
  follow_ups.insert(follow_ups.begin(), follow_up);
  if (follow_ups.size() > kMaxFollowUps) follow_ups.resize(kMaxFollowUps);
}

std::uint64_t OfferNumber(std::string_view campaign_id) {
  return EventIdHash(campaign_id) | (std::uint64_t{1} << 63);
}

namespace {

// Whether `touchpoint` counts in `follow_up` (its time within the window).
bool Counts(const Touchpoint& touchpoint, const AlertFollowUp& follow_up) {
  if (touchpoint.type == TouchpointType::kPurchase) {
    return follow_up.campaign_id.empty() || touchpoint.product == follow_up.product;
  }
  return !touchpoint.held_out &&
         (follow_up.campaign_id.empty() || touchpoint.campaign_id == follow_up.campaign_id);
}

// Starts the follow-up of the offer campaign `touchpoint` reports, if it is
// one's first contact; whether it did. A contact acting on one of the
// customer's alerts (its alert id as campaign_id) is that alert's, whatever
// its product.
bool StartOffer(const Touchpoint& touchpoint, std::vector<AlertFollowUp>& follow_ups) {
  if (touchpoint.type != TouchpointType::kCampaignContact || touchpoint.product.empty() ||
      std::any_of(follow_ups.begin(), follow_ups.end(), [&](const AlertFollowUp& f) {
        return f.campaign_id.empty()
                   ? AlertId(touchpoint.customer_id, f.number) == touchpoint.campaign_id
                   : f.campaign_id == touchpoint.campaign_id;
      })) {
    return false;
  }
  StartFollowUp({.number = OfferNumber(touchpoint.campaign_id),
                 .raised_at = touchpoint.occurred_at,
                 .control = touchpoint.held_out,
                 .contacts = touchpoint.held_out ? 0U : 1U,
                 .campaign_id = touchpoint.campaign_id,
                 .product = touchpoint.product},
                follow_ups);
  return true;
}

}  // namespace

bool FollowUp(const Touchpoint& touchpoint, Micros window, std::vector<AlertFollowUp>& follow_ups) {
  const bool purchase = touchpoint.type == TouchpointType::kPurchase;
  if (!purchase && touchpoint.type != TouchpointType::kCampaignContact) return false;
  const Timestamp at = touchpoint.occurred_at;
  bool changed = false;
  for (AlertFollowUp& follow_up : follow_ups) {
    if (at < follow_up.raised_at || at >= follow_up.raised_at + window) continue;
    if (!Counts(touchpoint, follow_up)) continue;
    changed = true;
    if (!purchase) {
      ++follow_up.contacts;
      continue;
    }
    follow_up.revenue += touchpoint.amount;
    if (!follow_up.recovered_at || at < *follow_up.recovered_at) follow_up.recovered_at = at;
  }
  // After the count: a campaign's first contact counts once, as it starts.
  return StartOffer(touchpoint, follow_ups) || changed;
}

FollowUpMoves FollowUpsMoved(const std::vector<AlertFollowUp>* from,
                             const std::vector<AlertFollowUp>* to) {
  static const std::vector<AlertFollowUp> kNone;
  const std::vector<AlertFollowUp>& before = from != nullptr ? *from : kNone;
  const std::vector<AlertFollowUp>& after = to != nullptr ? *to : kNone;
  const auto find = [](const std::vector<AlertFollowUp>& in, std::uint64_t number) {
    return std::find_if(in.begin(), in.end(),
                        [&](const AlertFollowUp& f) { return f.number == number; });
  };
  FollowUpMoves moves;
  for (const AlertFollowUp& follow_up : before) {
    if (find(after, follow_up.number) == after.end()) moves.gone.push_back(&follow_up);
  }
  for (const AlertFollowUp& follow_up : after) {
    const auto was = find(before, follow_up.number);
    if (was == before.end() || !(*was == follow_up)) moves.come.push_back(&follow_up);
  }
  return moves;
}

Timestamp WeekOf(Timestamp at) {
  const std::chrono::sys_days day = std::chrono::floor<Days>(at);
  return day - (std::chrono::weekday(day) - std::chrono::Monday);
}

namespace {

void Add(const OutcomeGroup& from, OutcomeGroup& to) {
  to.alerts += from.alerts;
  to.contacted += from.contacted;
  to.recovered += from.recovered;
  to.revenue += from.revenue;
}

void Add(const OutcomeTotals& from, OutcomeTotals& to) {
  Add(from.treated, to.treated);
  Add(from.control, to.control);
}

}  // namespace

void Tally(const AlertFollowUp& follow_up, const OutcomeFilter& filter, OutcomeReport& report) {
  if (filter.campaign ? follow_up.campaign_id != *filter.campaign
                      : !follow_up.campaign_id.empty()) {
    return;
  }
  if ((filter.since && follow_up.raised_at < *filter.since) ||
      (filter.until && follow_up.raised_at >= *filter.until) ||
      (filter.action && follow_up.action != *filter.action) ||
      (filter.segment && follow_up.segment != *filter.segment)) {
    return;
  }
  const OutcomeGroup one{.alerts = 1,
                         .contacted = follow_up.contacts > 0 ? 1U : 0U,
                         .recovered = follow_up.recovered_at ? 1U : 0U,
                         .revenue = follow_up.revenue};
  OutcomeTotals& week = report.weeks[WeekOf(follow_up.raised_at)];
  Add(one, follow_up.control ? report.all.control : report.all.treated);
  Add(one, follow_up.control ? week.control : week.treated);
}

void AddProgress(const std::vector<AlertFollowUp>& before, const std::vector<AlertFollowUp>& after,
                 OutcomeTotals& added) {
  for (const AlertFollowUp* come : FollowUpsMoved(&before, &after).come) {
    if (!come->campaign_id.empty()) continue;  // an offer campaign's: not an alert's outcome
    const auto was = std::find_if(before.begin(), before.end(),
                                  [&](const AlertFollowUp& f) { return f.number == come->number; });
    const AlertFollowUp none{.raised_at = come->raised_at};
    const AlertFollowUp& from = was != before.end() ? *was : none;
    OutcomeGroup& group = come->control ? added.control : added.treated;
    group.alerts += was == before.end() ? 1 : 0;
    group.contacted += from.contacts == 0 && come->contacts > 0 ? 1 : 0;
    group.recovered += !from.recovered_at && come->recovered_at ? 1 : 0;
    group.revenue += come->revenue - from.revenue;
  }
}

void Merge(const OutcomeReport& from, OutcomeReport& to) {
  Add(from.all, to.all);
  for (const auto& [week, totals] : from.weeks) Add(totals, to.weeks[week]);
}

}  // namespace crm
