#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/customer_id.h"
#include "core/time.h"
#include "core/touchpoint.h"

namespace crm::demo {

// An alert as the demo's campaign tool reads it off the service's stream.
struct RaisedAlert {
  std::string alert_id;
  CustomerId customer;
  Timestamp raised_at{};
  bool for_marketing = false;
  bool control = false;
  Channel channel = Channel::kUnspecified;  // the recommended one
};

// The effect the demo's campaigns have, known to it: on top of what its
// customers do anyway, a treated customer comes back within the outcome
// window with probability `treated_return`, a control one with
// `control_return` (the same customer would have, untouched).
struct CampaignOptions {
  double treated_return = 0.5;
  double control_return = 0.15;
  std::uint64_t seed = 1;
};

// The demo's campaign tool, what marketing automation does with the
// service's alerts: for each alert for marketing (treated), a contact on its
// recommended channel (e-mail without one) a day after the alert, reported
// as a CAMPAIGN_CONTACT with the alert id as campaign_id, and perhaps a
// purchase within the window; for each control alert, no contact and
// perhaps a purchase; nothing for the others. Seeded: the same alerts get
// the same answers. Not thread-safe.
class CampaignTool {
 public:
  explicit CampaignTool(CampaignOptions options);

  // The touchpoints that follow `alert`, in time order, none before
  // `not_before` (the simulated present: the past is not rewritten).
  std::vector<Touchpoint> Respond(const RaisedAlert& alert, Timestamp not_before);

  // The true uplift of the recovery rate among customers who would not have
  // come back anyway.
  double true_uplift() const { return options_.treated_return - options_.control_return; }

 private:
  CampaignOptions options_;
  std::mt19937_64 rng_;
};

}  // namespace crm::demo
