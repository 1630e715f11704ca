#include "core/follow_up.h"

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

void Tally(const std::vector<AlertFollowUp>& follow_ups, const OutcomeFilter& filter,
           OutcomeTotals& totals) {
  for (const AlertFollowUp& follow_up : follow_ups) {
    if ((filter.since && follow_up.raised_at < *filter.since) ||
        (filter.until && follow_up.raised_at >= *filter.until) ||
        (filter.action && follow_up.action != *filter.action) ||
        (filter.segment && follow_up.segment != *filter.segment)) {
      continue;
    }
    OutcomeGroup& group = follow_up.control ? totals.control : totals.treated;
    ++group.alerts;
    group.contacted += follow_up.contacts > 0;
    group.recovered += follow_up.recovered_at.has_value();
    group.revenue += follow_up.revenue;
  }
}

}  // namespace crm
