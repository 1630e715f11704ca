#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/reject_sink.h"
#include "services/common/defaults.h"
#include "services/kafka/kafka_config.h"

namespace RdKafka {
class Producer;
}

namespace crm {

struct DeadLetterOptions {
  std::string brokers;
  std::string topic{kDefaultDeadLetterTopic};
  std::string source_topic{kDefaultTouchpointTopic};  // named in each record's headers
  KafkaProperties properties;                         // applied last
  int flush_timeout_ms = 10'000;
  // Longer originals are copied up to this many bytes, with headers saying
  // so: a record too large for the dead-letter topic must not stop ingestion.
  std::size_t max_value_bytes = 512 * 1024;
  std::size_t max_key_bytes = 16 * 1024;
  // The minimal record tried when a record is refused for itself: its key
  // and value cut to these, and never more than the producer's
  // message.max.bytes leaves once the headers are counted.
  std::size_t minimal_value_bytes = 4 * 1024;
  std::size_t minimal_key_bytes = 256;
};

// RejectSink on the dead-letter topic: each rejected record is produced with
// its original key and value and the headers `crm.reason` (a RejectReasonName),
// `crm.detail` (the Rejection's detail: at most 1 KiB, one line),
// `crm.source.topic`, `crm.source.partition`, `crm.source.offset`; an original
// longer than the limits is cut, with `crm.truncated` = "true" and
// `crm.original.value.bytes` / `crm.original.key.bytes` giving its sizes.
// Idempotent producer. Consumer thread only (delivery reports are served by
// its own poll and flush calls).
//
// What "cannot be produced" means, and what follows:
//  - Refused for itself: the record, not the destination, is at fault
//    (message size too large, on the client against `message.max.bytes` or
//    from the broker against the topic's `max.message.bytes`; an invalid or
//    corrupt record). A minimal record is tried instead: the same headers
//    plus `crm.dead.letter.error` (why the full one was refused), its key and
//    value cut (see DeadLetterOptions), `crm.truncated` = "true". When the
//    minimal one is refused for itself too, the record is passed over: logged
//    (partition, offset, reason), counted by Flush's result
//    (crm_dead_letter_failures_total), and its offset moves on with the
//    batch. Retrying it could never succeed and would stop ingestion for good.
//  - Anything else (the brokers away, a delivery timed out, the topic
//    missing, authorisation refused): Send or Flush fails, so the batch's
//    offsets do not move, exactly as before: a destination that is away or
//    misconfigured must not make rejected records vanish silently; they are
//    produced again once it is back.
class KafkaDeadLetterSink final : public RejectSink {
 public:
  static absl::StatusOr<std::unique_ptr<KafkaDeadLetterSink>> Create(
      const DeadLetterOptions& options);
  ~KafkaDeadLetterSink() override;

  // OK once queued, or once passed over (then counted by the next Flush);
  // UnavailableError when the producer's queue stays full or the producer
  // refuses the topic.
  absl::Status Send(std::int32_t partition, std::int64_t offset, std::string_view key,
                    std::string_view value, const Rejection& rejection) override;
  // Waits for every queued record, producing the minimal record for those
  // refused for themselves; returns how many were passed over since the last
  // Flush. UnavailableError when a record could not be delivered for another
  // cause, or the flush timed out.
  absl::StatusOr<std::uint64_t> Flush() override;

 private:
  class DeliveryReport;
  struct Pending;
  KafkaDeadLetterSink() = default;
  // Produces the record of pending_[index] with `key` and `value` (cut to
  // fit message.max.bytes when it is the minimal one), waiting for room in a
  // full queue up to flush_timeout_ms; librdkafka's error code.
  int Produce(std::size_t index, std::string_view key, std::string_view value);
  // Tries the minimal record of pending_[index], the full one refused for
  // `error`; passes it over when it is refused for itself too.
  absl::Status ProduceMinimal(std::size_t index, const std::string& error);
  // The record at `index` cannot be produced: logged, counted.
  void PassOver(std::size_t index, const std::string& error);

  DeadLetterOptions options_;
  std::size_t message_max_bytes_ = 1'000'000;  // the producer's message.max.bytes
  std::unique_ptr<DeliveryReport> delivery_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::vector<Pending> pending_;   // since the last Flush; delivery opaques index it
  std::uint64_t passed_over_ = 0;  // since the last Flush
};

}  // namespace crm
