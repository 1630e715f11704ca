#pragma once

#include "absl/status/statusor.h"
#include "core/alerts.h"
#include "crm/v1/scoring.pb.h"

namespace crm {

// An alert raised or cleared as the crm.alerts topic and WatchAlerts carry
// it, and back: the segment, the action and a clear's reason travel as their
// names (SegmentName, RecommendedActionName, ClearedReasonName). for_marketing
// is false when the action is NONE or no channel is consented. FromProto
// reads ALERT_TRANSITION_UNSPECIFIED (written before clears existed) as a
// raise; it fails with InvalidArgument, naming the field, when the segment or
// the action is not one of those names, the transition is unknown, or a
// clear's reason is not a ClearedReasonName.
void ToProto(const AlertEvent& alert, v1::ChurnAlert* out);
absl::StatusOr<AlertEvent> FromProto(const v1::ChurnAlert& alert);

}  // namespace crm
