#pragma once

// The input topic's default name, as the contract gives it. Core keys the
// offsets it commits by the topic's name; services/common/defaults.h gathers
// it with the service's other defaults.

#include <string_view>

namespace crm {

inline constexpr std::string_view kDefaultTouchpointTopic = "crm.touchpoints";

}  // namespace crm
