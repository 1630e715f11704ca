#pragma once

#include "absl/status/statusor.h"
#include "core/alerts.h"
#include "crm/v1/scoring.pb.h"

namespace crm {

// A raised alert as the crm.alerts topic and WatchAlerts carry it, and back:
// the segment and the action travel as their names (SegmentName,
// RecommendedActionName). FromProto fails with InvalidArgument, naming the
// field, when the segment or the action is not one of those names.
void ToProto(const AlertEvent& alert, v1::ChurnAlert* out);
absl::StatusOr<AlertEvent> FromProto(const v1::ChurnAlert& alert);

}  // namespace crm
