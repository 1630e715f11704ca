#include "services/kafka/dead_letter_sink.h"

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <utility>

#include "services/common/log.h"

namespace crm {
namespace {

constexpr char kComponent[] = "dead-letter";

// Room for a record's framing beside its key, value and headers.
constexpr std::size_t kRecordOverheadBytes = 512;

// The destination refuses the record itself: sending it again could never
// succeed, whatever the state of the brokers.
bool RefusedForItself(RdKafka::ErrorCode err) {
  switch (err) {
    case RdKafka::ERR_MSG_SIZE_TOO_LARGE:
    case RdKafka::ERR_RECORD_LIST_TOO_LARGE:
    case RdKafka::ERR_INVALID_MSG:
    case RdKafka::ERR_INVALID_MSG_SIZE:
    case RdKafka::ERR_INVALID_RECORD:
    case RdKafka::ERR__INVALID_ARG:
    case RdKafka::ERR__BAD_MSG:
      return true;
    default:
      return false;
  }
}

void* Opaque(std::size_t index) {
  // librdkafka hands back a void* per message: the index rides in it.
  return reinterpret_cast<void*>(  // NOLINT(performance-no-int-to-ptr)
      static_cast<std::uintptr_t>(index));
}

}  // namespace

// Served by the producer's poll and flush, so on the consumer thread that
// calls Send and Flush: no lock.
class KafkaDeadLetterSink::DeliveryReport final : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    if (message.err() == RdKafka::ERR_NO_ERROR) return;
    failures_.emplace_back(reinterpret_cast<std::uintptr_t>(message.msg_opaque()), message.err());
  }
  std::vector<std::pair<std::size_t, RdKafka::ErrorCode>> TakeFailures() {
    return std::exchange(failures_, {});
  }

 private:
  std::vector<std::pair<std::size_t, RdKafka::ErrorCode>> failures_;
};

// What a record queued since the last Flush needs for its minimal form.
struct KafkaDeadLetterSink::Pending {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  RejectReason reason = RejectReason::kMalformed;
  std::string detail;
  std::string key;    // cut to minimal_key_bytes
  std::string value;  // cut to minimal_value_bytes
  std::size_t original_key_bytes = 0;
  std::size_t original_value_bytes = 0;
  bool truncated = false;  // the full record was cut
  std::string error;       // when minimal: why the full record was refused
};

absl::StatusOr<std::unique_ptr<KafkaDeadLetterSink>> KafkaDeadLetterSink::Create(
    const DeadLetterOptions& options) {
  KafkaProperties properties = {{"bootstrap.servers", options.brokers},
                                {"enable.idempotence", "true"},
                                {"linger.ms", "0"},
                                {"client.id", "crm-scored-dlq"}};
  auto conf = MakeKafkaConf(std::move(properties), options.properties);
  if (!conf.ok()) return conf.status();

  std::unique_ptr<KafkaDeadLetterSink> sink(new KafkaDeadLetterSink());
  sink->options_ = options;
  sink->delivery_ = std::make_unique<DeliveryReport>();
  std::string error;
  if ((*conf)->set("dr_cb", sink->delivery_.get(), error) != RdKafka::Conf::CONF_OK) {
    return absl::InternalError(error);
  }
  std::string max_bytes;
  if ((*conf)->get("message.max.bytes", max_bytes) == RdKafka::Conf::CONF_OK) {
    sink->message_max_bytes_ = std::stoul(max_bytes);  // librdkafka validated it
  }
  sink->producer_.reset(RdKafka::Producer::create(conf->get(), error));
  if (!sink->producer_) return absl::InvalidArgumentError("dead-letter producer: " + error);
  return sink;
}

KafkaDeadLetterSink::~KafkaDeadLetterSink() {
  if (producer_) producer_->flush(options_.flush_timeout_ms);
}

int KafkaDeadLetterSink::Produce(std::size_t index, std::string_view key, std::string_view value) {
  const Pending& record = pending_[index];
  const bool minimal = !record.error.empty();
  RdKafka::Headers* headers = RdKafka::Headers::create();
  headers->add("crm.reason", std::string(RejectReasonName(record.reason)));
  headers->add("crm.detail", record.detail);
  headers->add("crm.source.topic", options_.source_topic);
  headers->add("crm.source.partition", std::to_string(record.partition));
  headers->add("crm.source.offset", std::to_string(record.offset));
  if (minimal) headers->add("crm.dead.letter.error", record.error);
  if (record.truncated || minimal) {
    headers->add("crm.truncated", "true");
    headers->add("crm.original.value.bytes", std::to_string(record.original_value_bytes));
    headers->add("crm.original.key.bytes", std::to_string(record.original_key_bytes));
  }
  if (minimal) {
    // What message.max.bytes leaves for the value once the rest is counted.
    std::size_t used = key.size() + kRecordOverheadBytes;
    for (const RdKafka::Headers::Header& header : headers->get_all()) {
      used += header.key().size() + header.value_size() + 8;
    }
    value = value.substr(0, message_max_bytes_ > used ? message_max_bytes_ - used : 0);
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.flush_timeout_ms);
  RdKafka::ErrorCode err;
  while (true) {
    err = producer_->produce(options_.topic, RdKafka::Topic::PARTITION_UA,
                             RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(value.data()),
                             value.size(), key.data(), key.size(), 0, headers, Opaque(index));
    if (err != RdKafka::ERR__QUEUE_FULL || std::chrono::steady_clock::now() > deadline) break;
    producer_->poll(100);  // delivers what is queued, making room
  }
  if (err != RdKafka::ERR_NO_ERROR) {
    delete headers;  // ownership passes to librdkafka only on success
    return err;
  }
  producer_->poll(0);
  return RdKafka::ERR_NO_ERROR;
}

absl::Status KafkaDeadLetterSink::ProduceMinimal(std::size_t index, const std::string& error) {
  Pending& record = pending_[index];
  record.error = error;
  const std::string key = record.key, value = record.value;
  const auto err = static_cast<RdKafka::ErrorCode>(Produce(index, key, value));
  if (err == RdKafka::ERR_NO_ERROR) return absl::OkStatus();
  if (!RefusedForItself(err)) {
    return absl::UnavailableError("dead-letter produce: " + RdKafka::err2str(err));
  }
  PassOver(index, RdKafka::err2str(err));
  return absl::OkStatus();
}

void KafkaDeadLetterSink::PassOver(std::size_t index, const std::string& error) {
  const Pending& record = pending_[index];
  ++passed_over_;
  CRM_LOG(kError, kComponent) << "passed over " << options_.source_topic << "[" << record.partition
                              << "]@" << record.offset << " (" << RejectReasonName(record.reason)
                              << "): not even a minimal dead-letter record could be produced ("
                              << error << "; first: " << record.error
                              << "); see crm_dead_letter_failures_total";
}

absl::Status KafkaDeadLetterSink::Send(std::int32_t partition, std::int64_t offset,
                                       std::string_view key, std::string_view value,
                                       const Rejection& rejection) {
  const std::size_t index = pending_.size();
  Pending& record = pending_.emplace_back();
  record.partition = partition;
  record.offset = offset;
  record.reason = rejection.reason;
  record.detail = rejection.detail();
  record.key = key.substr(0, options_.minimal_key_bytes);
  record.value = value.substr(0, options_.minimal_value_bytes);
  record.original_key_bytes = key.size();
  record.original_value_bytes = value.size();
  record.truncated = value.size() > options_.max_value_bytes || key.size() > options_.max_key_bytes;
  const auto err = static_cast<RdKafka::ErrorCode>(Produce(
      index, key.substr(0, options_.max_key_bytes), value.substr(0, options_.max_value_bytes)));
  if (err == RdKafka::ERR_NO_ERROR) return absl::OkStatus();
  if (RefusedForItself(err)) return ProduceMinimal(index, RdKafka::err2str(err));
  return absl::UnavailableError("dead-letter produce: " + RdKafka::err2str(err));
}

absl::StatusOr<std::uint64_t> KafkaDeadLetterSink::Flush() {
  // The full records, then the minimal ones produced for those refused; a
  // minimal record is never produced again, so this ends.
  while (true) {
    const RdKafka::ErrorCode err = producer_->flush(options_.flush_timeout_ms);
    if (err != RdKafka::ERR_NO_ERROR) {
      return absl::UnavailableError("dead-letter flush: " + RdKafka::err2str(err));
    }
    const auto failures = delivery_->TakeFailures();
    if (failures.empty()) break;
    for (const auto& [index, failure] : failures) {
      if (!RefusedForItself(failure)) {
        return absl::UnavailableError("dead-letter records were not delivered: " +
                                      RdKafka::err2str(failure));
      }
      if (!pending_[index].error.empty()) {
        PassOver(index, RdKafka::err2str(failure));
      } else if (absl::Status s = ProduceMinimal(index, RdKafka::err2str(failure)); !s.ok()) {
        return s;
      }
    }
  }
  pending_.clear();
  return std::exchange(passed_over_, 0);
}

}  // namespace crm
