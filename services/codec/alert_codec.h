#pragma once

#include "absl/status/statusor.h"
#include "core/alerts.h"
#include "crm/v1/scoring.pb.h"

namespace crm {

// An alert raised or cleared as the crm.alerts topic and WatchAlerts carry
// it, and back: the segment, the action and a clear's reason travel as their
// names (SegmentName, RecommendedActionName, ClearedReasonName). for_marketing
// is false when the alert has a MarketingExclusion, named in
// not_for_marketing_reason; control marks kControlGroup. FromProto reads an
// alert with no reason but not for marketing (written before reasons
// existed) as kNoAction or kNoConsentedChannel by its action. FromProto
// reads ALERT_TRANSITION_UNSPECIFIED (written before clears existed) as a
// raise; it fails with InvalidArgument, naming the field, when the segment or
// the action is not one of those names, the transition is unknown, a
// clear's reason is not a ClearedReasonName, or the reason not to market is
// unknown or disagrees with for_marketing or control.
void ToProto(const AlertEvent& alert, v1::ChurnAlert* out);
absl::StatusOr<AlertEvent> FromProto(const v1::ChurnAlert& alert);

}  // namespace crm
