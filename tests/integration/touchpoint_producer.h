#pragma once

#include <string>
#include <vector>

#include "crm/v1/touchpoint.pb.h"

namespace crm::testing {

// Produces `touchpoints` to crm.touchpoints on `brokers` as protobuf, key =
// customer id, with an idempotent producer, and waits until all are
// acknowledged (a gtest failure otherwise).
void ProduceTouchpoints(const std::string& brokers, const std::vector<v1::Touchpoint>& touchpoints);

}  // namespace crm::testing
