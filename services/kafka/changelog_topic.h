#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/changelog.h"
#include "services/common/defaults.h"
#include "services/kafka/kafka_config.h"

namespace RdKafka {
class Producer;
}  // namespace RdKafka

namespace crm {

struct ChangelogTopicOptions {
  std::string brokers;
  std::string topic{kDefaultChangelogTopic};  // compacted, partitioned as the input topic
  std::string group = "crm-scored";           // the readers' group id gets ".changelog"
  KafkaProperties properties;                 // --kafka, over the defaults
  // How long a read may go without a record before it fails.
  int read_stall_ms = 60'000;
};

// The partitions' changelogs on a Kafka topic (core/changelog.h). Records:
// a customer's state under their id (crm.internal.StoredCustomer; no value:
// erased), with headers crm.epoch and crm.seq (8 bytes, big-endian); an
// alert raised under "\0alert/" + its id (crm.v1.ChurnAlert; no value:
// delivered), stamped likewise; a
// marker under "\0commit/" + the epoch in hex, a fence under "\0fence/" + the
// epoch (crm.internal.StoredPartition). Each record goes to the partition of
// the input it comes from. Writes are idempotent, acknowledged by all
// in-sync replicas, in order. Used by the consumer thread only.
class KafkaChangelog final : public ChangelogSink, public ChangelogSource {
 public:
  static absl::StatusOr<std::unique_ptr<KafkaChangelog>> Create(
      const ChangelogTopicOptions& options);
  ~KafkaChangelog() override;

  absl::StatusOr<std::map<std::int32_t, std::int64_t>> Write(
      const std::vector<ChangelogWrite>& writes) override;
  absl::Status Read(std::int32_t partition, std::optional<std::int64_t> from,
                    const std::function<absl::Status(ChangelogRecord)>& visit) override;

  struct Pending;  // one Write's deliveries (changelog_topic.cc)

 private:
  class Deliveries;
  KafkaChangelog() = default;
  ChangelogTopicOptions options_;
  std::unique_ptr<Deliveries> deliveries_;
  std::unique_ptr<RdKafka::Producer> producer_;
};

}  // namespace crm
