#pragma once

#include "core/alerts.h"
#include "crm/v1/scoring.pb.h"

namespace crm {

// A raised alert as the crm.alerts topic and WatchAlerts carry it, and back.
void ToProto(const AlertEvent& alert, v1::ChurnAlert* out);
AlertEvent FromProto(const v1::ChurnAlert& alert);

}  // namespace crm
