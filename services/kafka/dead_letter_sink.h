#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/reject_sink.h"
#include "services/kafka/kafka_config.h"

namespace RdKafka {
class Producer;
}

namespace crm {

struct DeadLetterOptions {
  std::string brokers;
  std::string topic = "crm.touchpoints.dlq";
  std::string source_topic = "crm.touchpoints";  // named in each record's headers
  KafkaProperties properties;                    // applied last
  int flush_timeout_ms = 10'000;
  // Longer originals are copied up to this many bytes, with headers saying
  // so: a record too large for the dead-letter topic must not stop ingestion.
  std::size_t max_value_bytes = 512 * 1024;
  std::size_t max_key_bytes = 16 * 1024;
};

// RejectSink on the dead-letter topic: each rejected record is produced with
// its original key and value and the headers `crm.reason` (a RejectReasonName),
// `crm.detail`, `crm.source.topic`, `crm.source.partition`, `crm.source.offset`;
// an original longer than the limits is cut, with `crm.truncated` = "true" and
// `crm.original.value.bytes` / `crm.original.key.bytes` giving its sizes.
// Idempotent producer. Consumer thread only.
class KafkaDeadLetterSink final : public RejectSink {
 public:
  static absl::StatusOr<std::unique_ptr<KafkaDeadLetterSink>> Create(
      const DeadLetterOptions& options);
  ~KafkaDeadLetterSink() override;

  absl::Status Send(std::int32_t partition, std::int64_t offset, std::string_view key,
                    std::string_view value, const Rejection& rejection) override;
  absl::Status Flush() override;

 private:
  class DeliveryReport;
  KafkaDeadLetterSink() = default;
  DeadLetterOptions options_;
  std::unique_ptr<DeliveryReport> delivery_;
  std::unique_ptr<RdKafka::Producer> producer_;
};

}  // namespace crm
