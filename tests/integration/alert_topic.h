#pragma once

// The alerts topic read back where its consumers read it, for the tests that
// drive crm-scored on the event clock.

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "crm/v1/scoring.pb.h"

namespace crm::testing {

// Every alert on the topic so far (of its first `partitions`), read from the
// beginning for `wait`.
std::vector<v1::ChurnAlert> ReadAlerts(const std::string& brokers, std::chrono::seconds wait,
                                       int partition_count = 1);

// Waits until every alert of `ids` is on the alerts topic (the service's
// delivery, seen where its consumers see it); false after a minute.
bool WaitForAlertsOnTopic(const std::string& brokers, const std::set<std::string>& ids);

// Waits until an alert of `alert_id` with `transition` is on the alerts
// topic; false after a minute.
bool WaitForTransitionOnTopic(const std::string& brokers, const std::string& alert_id,
                              v1::AlertTransition transition);

// crm-scored's arguments on the event clock, on loopback ports it picks,
// against the test brokers.
std::vector<std::string> EventClockServiceArgs(const std::string& brokers, const std::string& data,
                                               const std::string& group);

}  // namespace crm::testing
