#pragma once

// The service's default names and addresses, defined once: crm-scored's
// options (services/app/options.h), the embedded broker's topics and the
// tools (tools/*.cc) all take them from here. Each is overridable by a flag.

#include <string_view>

#include "core/input_topic.h"

namespace crm {

inline constexpr std::string_view kDefaultAlertsTopic = "crm.alerts";
inline constexpr std::string_view kDefaultDeadLetterTopic = "crm.touchpoints.dlq";
inline constexpr std::string_view kDefaultChangelogTopic = "crm.state.changelog";
inline constexpr std::string_view kDefaultClusterTopic = "crm.cluster";
inline constexpr std::string_view kDefaultGroup = "crm-scored";
inline constexpr std::string_view kDefaultGrpcListen = "127.0.0.1:50051";
inline constexpr std::string_view kDefaultMetricsListen = "127.0.0.1:9464";
inline constexpr std::string_view kDefaultHttpListen = "127.0.0.1:8080";

// The header a WatchAlerts stream's initial metadata carries once the caller
// is subscribed (a refused stream ends without it): how the HTTP edge tells
// an open stream from a refusal before the first alert.
inline constexpr std::string_view kWatchOpenKey = "crm-watch-open";

}  // namespace crm
