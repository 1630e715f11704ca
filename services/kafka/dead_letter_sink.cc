#include "services/kafka/dead_letter_sink.h"

#include <librdkafka/rdkafkacpp.h>

#include <atomic>

namespace crm {

class KafkaDeadLetterSink::DeliveryReport final : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    if (message.err() != RdKafka::ERR_NO_ERROR) failures_.fetch_add(1);
  }
  std::uint64_t TakeFailures() { return failures_.exchange(0); }

 private:
  std::atomic<std::uint64_t> failures_{0};
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
  sink->producer_.reset(RdKafka::Producer::create(conf->get(), error));
  if (!sink->producer_) return absl::InvalidArgumentError("dead-letter producer: " + error);
  return sink;
}

KafkaDeadLetterSink::~KafkaDeadLetterSink() {
  if (producer_) producer_->flush(options_.flush_timeout_ms);
}

absl::Status KafkaDeadLetterSink::Send(std::int32_t partition, std::int64_t offset,
                                       std::string_view key, std::string_view value,
                                       const Rejection& rejection) {
  RdKafka::Headers* headers = RdKafka::Headers::create();
  const std::string reason(RejectReasonName(rejection.reason));
  const std::string partition_text = std::to_string(partition);
  const std::string offset_text = std::to_string(offset);
  headers->add("crm.reason", reason);
  headers->add("crm.detail", rejection.detail);
  headers->add("crm.source.topic", options_.source_topic);
  headers->add("crm.source.partition", partition_text);
  headers->add("crm.source.offset", offset_text);
  if (value.size() > options_.max_value_bytes || key.size() > options_.max_key_bytes) {
    headers->add("crm.truncated", "true");
    headers->add("crm.original.value.bytes", std::to_string(value.size()));
    headers->add("crm.original.key.bytes", std::to_string(key.size()));
    value = value.substr(0, options_.max_value_bytes);
    key = key.substr(0, options_.max_key_bytes);
  }
  RdKafka::ErrorCode err = producer_->produce(
      options_.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
      const_cast<char*>(value.data()), value.size(), key.data(), key.size(), 0, headers, nullptr);
  if (err != RdKafka::ERR_NO_ERROR) {
    delete headers;  // ownership passes to librdkafka only on success
    return absl::UnavailableError("dead-letter produce: " + RdKafka::err2str(err));
  }
  producer_->poll(0);
  return absl::OkStatus();
}

absl::Status KafkaDeadLetterSink::Flush() {
  RdKafka::ErrorCode err = producer_->flush(options_.flush_timeout_ms);
  if (err != RdKafka::ERR_NO_ERROR) {
    return absl::UnavailableError("dead-letter flush: " + RdKafka::err2str(err));
  }
  if (delivery_->TakeFailures() > 0) {
    return absl::UnavailableError("dead-letter records were not delivered");
  }
  return absl::OkStatus();
}

}  // namespace crm
