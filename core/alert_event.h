#pragma once

// An alert raised or cleared, as the ingest commits it, the outbox keeps it
// and the changelog carries it: plain data, apart from the policy that
// decides it (core/alerts.h), so that the storage port needs no scorer.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/cleared_reason.h"
#include "core/customer_id.h"
#include "core/lifecycle_stage.h"
#include "core/marketing.h"
#include "core/recommended_action.h"
#include "core/score_reason.h"
#include "core/segment.h"
#include "core/time.h"
#include "core/touchpoint.h"
#include "core/value_quadrant.h"

namespace crm {

enum class AlertTransition : std::uint8_t { kNone, kRaised, kCleared };

struct AlertOutcome {
  AlertTransition transition = AlertTransition::kNone;
  std::string alert_id;       // of the alert raised or cleared
  double previous_churn = 0;  // at the look before this one
};

// An alert raised or cleared, with what to do about it. A raise and its
// clear are two events of one alert (the same alert_id), each delivered once.
struct AlertEvent {
  CustomerId customer_id;
  AlertOutcome outcome;
  std::optional<ClearedReason> cleared_reason;  // set on a clear only
  Timestamp at{};                               // of the look that raised or cleared it
  double churn = 0;
  Segment segment = Segment::kNone;
  RecommendedAction action = RecommendedAction::kNone;  // RecommendAction
  Channel channel = Channel::kUnspecified;  // RecommendedChannel; none: not for marketing
  // Why it is not for marketing (kNone: it is). kControlGroup marks the
  // control group, on a raise and on its clear.
  MarketingExclusion exclusion = MarketingExclusion::kNone;
  std::vector<ScoreReason> reasons;
  std::string model_version;
  // The customer's value and stage at the look (Scores).
  double value_at_risk = 0;
  double clv = 0;
  ValueQuadrant quadrant = ValueQuadrant::kUndesirable;
  LifecycleStage lifecycle_stage = LifecycleStage::kProspect;
  double p_alive = 0;
};

// What identifies one alert event in the outbox, the changelog and on the
// alerts topic (what "delivered once" counts): its alert_id for a raise, the
// alert_id and "/cleared" for its clear.
inline std::string AlertDeliveryId(const AlertOutcome& outcome) {
  return outcome.transition == AlertTransition::kCleared ? outcome.alert_id + "/cleared"
                                                         : outcome.alert_id;
}

// Hears of each alert of the outbox once it is on the alerts topic, from the
// alert publisher's thread (a port: the Kafka adapter delivers, the core and
// the metrics listen).
class AlertDeliveryListener {
 public:
  virtual ~AlertDeliveryListener() = default;
  virtual void AlertDelivered(const AlertEvent& alert) = 0;
};

}  // namespace crm
