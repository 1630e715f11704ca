#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/ingest_loop.h"
#include "core/state_store.h"
#include "core/touchpoint_source.h"
#include "services/common/defaults.h"
#include "services/kafka/kafka_config.h"

namespace RdKafka {
class KafkaConsumer;
}  // namespace RdKafka

namespace crm {

struct ConsumerOptions {
  std::string brokers;                         // bootstrap.servers; required
  std::string group = "crm-scored";            // group.id
  std::string topic{kDefaultTouchpointTopic};  // input
  KafkaProperties properties;                  // any librdkafka property; applied last, so it wins
};

// The input as a consumer-group member (the TouchpointSource of the ingest
// loop): polls, turns rebalances into AssignmentEvents, positions each
// partition given at the offset committed in the StateStore (its beginning
// when none), not at Kafka's committed offsets, which it writes for lag
// monitoring only, and reports lag. A rebalance discards the records read
// so far in a poll: they are read again from the stored offsets.
//
// Used from one thread (the consumer thread), as TouchpointSource says.
class TouchpointConsumer final : public TouchpointSource {
 public:
  // `store` must outlive the consumer. Fails on bad Kafka properties.
  static absl::StatusOr<std::unique_ptr<TouchpointConsumer>> Create(const ConsumerOptions& options,
                                                                    StateStore* store);
  ~TouchpointConsumer() override;

  absl::Status Start(AssignmentListener* listener) override;
  absl::Status Poll(int timeout_ms, std::size_t max_records, SourceBatch& batch) override;
  bool TakeBrokersDown() override;
  bool BrokersAnswer(int timeout_ms) override;
  void Rewind() override;
  void Commit(const std::map<std::int32_t, std::int64_t>& next_offsets) override;
  std::vector<PartitionLag> Lag() override;
  void Close() override;

 private:
  class Callbacks;
  TouchpointConsumer() = default;
  // The input topic's partition count, from the brokers (0: not known).
  std::int32_t PartitionCount(RdKafka::KafkaConsumer* consumer);

  ConsumerOptions options_;
  StateStore* store_ = nullptr;
  std::unique_ptr<Callbacks> callbacks_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
};

// The partitioner the producers use, by librdkafka's name (IsKafkaPartitioner).
class KafkaKeyPartitioner final : public KeyPartitioner {
 public:
  explicit KafkaKeyPartitioner(std::string partitioner) : partitioner_(std::move(partitioner)) {}
  std::int32_t PartitionOf(std::string_view key, std::int32_t count) const override {
    return KafkaPartitionOf(partitioner_, key, count);
  }
  std::string_view name() const override { return partitioner_; }

 private:
  std::string partitioner_;
};

}  // namespace crm
