#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "core/alerts.h"
#include "services/common/defaults.h"
#include "services/kafka/kafka_config.h"

namespace RdKafka {
class KafkaConsumer;
}

namespace crm {

struct AlertFeedOptions {
  std::string brokers;
  std::string topic{kDefaultAlertsTopic};
  KafkaProperties properties;  // --kafka, over the defaults
  // How long Create waits to find the topic's ends before going on (the
  // brokers away at start: the thread keeps trying).
  int start_timeout_ms = 3000;
};

// Reads every alert that reaches the alerts topic, whichever instance of the
// group delivered it, from the topic's end at start on, and hands each to
// `listener` on its own thread: in a cluster every instance's WatchAlerts
// streams see every alert. No consumer group: each partition is assigned
// explicitly, at the end offsets read at start, so an alert delivered after
// Create returns is never missed. When the brokers cannot be reached at
// start, the thread keeps trying and reads from the ends it finds then
// (nothing can be delivered meanwhile). A record that is not a ChurnAlert
// is skipped and counted.
class AlertFeed {
 public:
  using Listener = std::function<void(const AlertEvent&)>;
  static absl::StatusOr<std::unique_ptr<AlertFeed>> Create(const AlertFeedOptions& options,
                                                           Listener listener);
  ~AlertFeed();  // stops the thread

  // Whether the topic's ends were found and the feed is reading.
  bool reading() const { return reading_.load(); }
  std::uint64_t unreadable() const { return unreadable_.load(); }

 private:
  AlertFeed() = default;
  // Finds every partition's end and assigns them; false when the brokers
  // did not answer within `timeout_ms`.
  bool Position(int timeout_ms);
  void Run();

  AlertFeedOptions options_;
  Listener listener_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::atomic<bool> reading_{false};
  std::atomic<std::uint64_t> unreadable_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace crm
