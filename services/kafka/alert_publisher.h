#pragma once

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/alert_event.h"
#include "core/state_store.h"
#include "services/common/defaults.h"
#include "services/kafka/kafka_config.h"

namespace RdKafka {
class Producer;
}

namespace crm {

struct AlertPublisherOptions {
  std::string brokers;
  std::string topic{kDefaultAlertsTopic};
  KafkaProperties properties;  // applied last
  int poll_interval_ms = 100;  // between looks at an empty outbox
  std::size_t batch = 500;     // alerts per flush
  int flush_timeout_ms = 10'000;
  // Records read back from the end of each partition of the topic at start,
  // to recognise alerts delivered before a crash but not yet acknowledged.
  std::int64_t recheck_per_partition = 2000;
};

// Delivers the store's alert outbox to the alerts topic: ChurnAlert protobuf,
// key = customer id, idempotent producer; an alert leaves the outbox once
// Kafka acknowledged it. At start it reads back the tail of the topic, so an
// alert delivered just before a crash (and still in the outbox) is not sent
// twice: with deterministic alert ids, each crossing reaches the topic once.
class AlertPublisher {
 public:
  // `listeners` hear of every alert delivered, from Run's thread, before it
  // leaves the outbox. `store` and the listeners must outlive the publisher.
  static absl::StatusOr<std::unique_ptr<AlertPublisher>> Create(
      const AlertPublisherOptions& options, StateStore* store,
      std::vector<AlertDeliveryListener*> listeners);
  ~AlertPublisher();

  // Delivers until Stop(); returns an error only when the store fails (Kafka
  // being away is waited out).
  absl::Status Run();
  void Stop() { stop_.store(true); }
  // Reads the topic's tail again before the next delivery: alerts that join
  // the outbox from elsewhere (a partition restored from its changelog) may
  // have been delivered by their previous owner. Thread-safe.
  void RecheckTopic() { recheck_.fetch_add(1); }

 private:
  class DeliveryReport;
  AlertPublisher() = default;
  absl::Status ReadBackTopic();
  // Sends pending alerts; true when it sent (or skipped) any.
  absl::StatusOr<bool> DeliverOnce();

  AlertPublisherOptions options_;
  StateStore* store_ = nullptr;
  std::vector<AlertDeliveryListener*> listeners_;
  std::unique_ptr<DeliveryReport> report_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::set<std::string> on_topic_;         // AlertDeliveryIds known delivered, not yet acknowledged
  std::atomic<std::uint64_t> recheck_{0};  // RecheckTopic calls
  std::uint64_t rechecked_ = 0;            // of them, read back since
  std::atomic<bool> stop_{false};
};

}  // namespace crm
