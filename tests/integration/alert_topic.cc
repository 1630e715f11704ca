#include "tests/integration/alert_topic.h"

#include "tests/integration/test_cluster.h"
#include "tests/integration/touchpoint_producer.h"

namespace crm::testing {

using namespace std::chrono_literals;

std::vector<v1::ChurnAlert> ReadAlerts(const std::string& brokers, std::chrono::seconds wait,
                                       int partition_count) {
  std::vector<v1::ChurnAlert> alerts;
  for (const TestRecord& record : ReadTopic(brokers, "crm.alerts", partition_count, wait)) {
    v1::ChurnAlert alert;
    if (alert.ParseFromString(record.value)) alerts.push_back(alert);
  }
  return alerts;
}

bool WaitForAlertsOnTopic(const std::string& brokers, const std::set<std::string>& ids) {
  const auto until = std::chrono::steady_clock::now() + 60s;
  for (;;) {
    std::set<std::string> missing = ids;
    for (const v1::ChurnAlert& alert : ReadAlerts(brokers, 1s)) missing.erase(alert.alert_id());
    if (missing.empty()) return true;
    if (std::chrono::steady_clock::now() > until) return false;
  }
}

bool WaitForTransitionOnTopic(const std::string& brokers, const std::string& alert_id,
                              v1::AlertTransition transition) {
  const auto until = std::chrono::steady_clock::now() + 60s;
  for (;;) {
    for (const v1::ChurnAlert& alert : ReadAlerts(brokers, 1s)) {
      if (alert.alert_id() == alert_id && alert.transition() == transition) return true;
    }
    if (std::chrono::steady_clock::now() > until) return false;
  }
}

std::vector<std::string> EventClockServiceArgs(const std::string& brokers, const std::string& data,
                                               const std::string& group) {
  return WithTestKafka({"--brokers",        brokers,
                        "--data-dir",       data,
                        "--grpc-listen",    "127.0.0.1:0",
                        "--metrics-listen", "127.0.0.1:0",
                        "--http-listen",    "127.0.0.1:0",
                        "--group",          group,
                        "--clock",          "event",
                        "--log-level",      "debug",
                        "--kafka",          "session.timeout.ms=6000",
                        "--kafka",          "fetch.wait.max.ms=10"});
}

}  // namespace crm::testing
