#include "core/follow_up.h"

#include <algorithm>

namespace crm {

void StartFollowUp(const AlertFollowUp& follow_up, std::vector<AlertFollowUp>& follow_ups) {
  follow_ups.insert(follow_ups.begin(), follow_up);
  if (follow_ups.size() > kMaxFollowUps) follow_ups.resize(kMaxFollowUps);
}

bool FollowUp(const Touchpoint& touchpoint, Micros window, std::vector<AlertFollowUp>& follow_ups) {
  const bool purchase = touchpoint.type == TouchpointType::kPurchase;
  if (!purchase && touchpoint.type != TouchpointType::kCampaignContact) return false;
  const Timestamp at = touchpoint.occurred_at;
  bool changed = false;
  for (AlertFollowUp& follow_up : follow_ups) {
    if (at < follow_up.raised_at || at >= follow_up.raised_at + window) continue;
    changed = true;
    if (!purchase) {
      ++follow_up.contacts;
      continue;
    }
    follow_up.revenue += touchpoint.amount;
    if (!follow_up.recovered_at || at < *follow_up.recovered_at) follow_up.recovered_at = at;
  }
  return changed;
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
