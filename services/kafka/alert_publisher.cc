#include "services/kafka/alert_publisher.h"

#include <librdkafka/rdkafkacpp.h>

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "services/codec/alert_codec.h"
#include "services/common/fail_point.h"
#include "services/common/log.h"

namespace crm {
namespace {

constexpr std::string_view kComponent = "alerts";

}  // namespace

// Which alert ids Kafka acknowledged, and whether any failed.
class AlertPublisher::DeliveryReport final : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    absl::MutexLock lock(&mutex_);
    auto* id = static_cast<std::string*>(message.msg_opaque());
    if (message.err() == RdKafka::ERR_NO_ERROR) {
      delivered_.insert(*id);
    } else {
      ++failures_;
      last_error_ = message.errstr();
    }
    delete id;
  }
  std::set<std::string> TakeDelivered() {
    absl::MutexLock lock(&mutex_);
    return std::exchange(delivered_, {});
  }
  int TakeFailures(std::string* error) {
    absl::MutexLock lock(&mutex_);
    *error = last_error_;
    return std::exchange(failures_, 0);
  }

 private:
  absl::Mutex mutex_;
  std::set<std::string> delivered_ ABSL_GUARDED_BY(mutex_);
  int failures_ ABSL_GUARDED_BY(mutex_) = 0;
  std::string last_error_ ABSL_GUARDED_BY(mutex_);
};

absl::StatusOr<std::unique_ptr<AlertPublisher>> AlertPublisher::Create(
    const AlertPublisherOptions& options, StateStore* store,
    std::vector<AlertDeliveryListener*> listeners) {
  KafkaProperties properties = {{"bootstrap.servers", options.brokers},
                                {"enable.idempotence", "true"},
                                {"linger.ms", "5"},
                                {"client.id", "crm-scored-alerts"}};
  auto conf = MakeKafkaConf(std::move(properties), options.properties);
  if (!conf.ok()) return conf.status();
  std::unique_ptr<AlertPublisher> publisher(new AlertPublisher());
  publisher->options_ = options;
  publisher->store_ = store;
  publisher->listeners_ = std::move(listeners);
  publisher->report_ = std::make_unique<DeliveryReport>();
  std::string error;
  if ((*conf)->set("dr_cb", publisher->report_.get(), error) != RdKafka::Conf::CONF_OK) {
    return absl::InternalError(error);
  }
  publisher->producer_.reset(RdKafka::Producer::create(conf->get(), error));
  if (!publisher->producer_) return absl::InvalidArgumentError("alert producer: " + error);
  return publisher;
}

AlertPublisher::~AlertPublisher() {
  if (producer_) producer_->flush(options_.flush_timeout_ms);
}

absl::Status AlertPublisher::ReadBackTopic() {
  KafkaProperties properties = {{"bootstrap.servers", options_.brokers},
                                {"group.id", "crm-scored-alert-readback"},
                                {"enable.auto.commit", "false"},
                                {"enable.partition.eof", "true"}};
  auto conf = MakeKafkaConf(std::move(properties), options_.properties);
  if (!conf.ok()) return conf.status();
  std::string error;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(conf->get(), error));
  if (!consumer) return absl::InternalError("alert read-back consumer: " + error);
  RdKafka::Metadata* raw = nullptr;
  std::unique_ptr<RdKafka::Topic> topic(
      RdKafka::Topic::create(consumer.get(), options_.topic, nullptr, error));
  if (consumer->metadata(false, topic.get(), &raw, 10'000) != RdKafka::ERR_NO_ERROR) {
    return absl::UnavailableError("alerts topic metadata unavailable");
  }
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  std::vector<RdKafka::TopicPartition*> assignment;
  std::size_t expected_eofs = 0;
  for (const RdKafka::TopicMetadata* t : *metadata->topics()) {
    if (t->topic() != options_.topic) continue;
    for (const RdKafka::PartitionMetadata* p : *t->partitions()) {
      std::int64_t low = 0, high = 0;
      if (consumer->query_watermark_offsets(options_.topic, p->id(), &low, &high, 10'000) !=
          RdKafka::ERR_NO_ERROR) {
        return absl::UnavailableError("alerts topic offsets unavailable");
      }
      if (high <= low) continue;
      assignment.push_back(RdKafka::TopicPartition::create(
          options_.topic, p->id(), std::max(low, high - options_.recheck_per_partition)));
      ++expected_eofs;
    }
  }
  consumer->assign(assignment);
  std::size_t eofs = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (eofs < expected_eofs && std::chrono::steady_clock::now() < until && !stop_.load()) {
    std::unique_ptr<RdKafka::Message> message(consumer->consume(200));
    if (message->err() == RdKafka::ERR__PARTITION_EOF) {
      ++eofs;
    } else if (message->err() == RdKafka::ERR_NO_ERROR) {
      v1::ChurnAlert alert;
      absl::StatusOr<AlertEvent> event = absl::InvalidArgumentError("not a ChurnAlert");
      if (alert.ParseFromArray(message->payload(), static_cast<int>(message->len()))) {
        event = FromProto(alert);
      }
      if (event.ok()) on_topic_.insert(AlertDeliveryId(event->outcome));
    }
  }
  RdKafka::TopicPartition::destroy(assignment);
  consumer->close();
  if (eofs < expected_eofs && !stop_.load()) {
    return absl::UnavailableError("could not read back the alerts topic");
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> AlertPublisher::DeliverOnce() {
  auto pending = store_->PendingAlerts(options_.batch);
  if (!pending.ok()) return pending.status();
  if (pending->empty()) return false;
  // Read after the pending alerts: a restore asks before it adds its alerts.
  if (const std::uint64_t wanted = recheck_.load(); wanted != rechecked_) {
    if (absl::Status read = ReadBackTopic(); !read.ok()) {
      CRM_LOG(kWarning, kComponent) << read.message() << "; retrying before delivering";
      return false;
    }
    rechecked_ = wanted;
  }
  std::string value;
  for (const auto& [sequence, alert] : *pending) {
    if (on_topic_.contains(AlertDeliveryId(alert.outcome))) continue;
    v1::ChurnAlert message;
    ToProto(alert, &message);
    message.SerializeToString(&value);
    const std::string& key = alert.customer_id.value();
    for (;;) {
      const RdKafka::ErrorCode err =
          producer_->produce(options_.topic, RdKafka::Topic::PARTITION_UA,
                             RdKafka::Producer::RK_MSG_COPY, value.data(), value.size(), key.data(),
                             key.size(), 0, new std::string(AlertDeliveryId(alert.outcome)));
      if (err == RdKafka::ERR_NO_ERROR) break;
      if (err != RdKafka::ERR__QUEUE_FULL) {
        return absl::UnavailableError("alert produce: " + RdKafka::err2str(err));
      }
      producer_->poll(50);
    }
  }
  producer_->flush(options_.flush_timeout_ms);
  std::set<std::string> delivered = report_->TakeDelivered();
  on_topic_.merge(delivered);
  std::string error;
  if (report_->TakeFailures(&error) > 0 || producer_->outq_len() > 0) {
    CRM_LOG(kWarning, kComponent) << "alerts not delivered yet, will retry: " << error;
    return false;
  }
  // Every pending alert of this round is on the topic: acknowledge them all.
  FailPoint("alert-delivered");
  std::vector<std::uint64_t> sequences;
  sequences.reserve(pending->size());
  for (const auto& [sequence, alert] : *pending) {
    sequences.push_back(sequence);
    CRM_LOG(kDebug, kComponent) << "delivered " << AlertDeliveryId(alert.outcome) << " for "
                                << alert.customer_id.value() << ": churn " << alert.churn << ", "
                                << RecommendedActionName(alert.action);
    for (AlertDeliveryListener* listener : listeners_) listener->AlertDelivered(alert);
  }
  if (absl::Status acked = store_->AckAlerts(sequences); IsStorageFull(acked)) {
    // On the topic, still in the outbox: acknowledged once space returns,
    // never produced again meanwhile (they stay known as on the topic).
    CRM_LOG(kWarning, kComponent) << acked.message() << "; acknowledging again later";
    return false;
  } else if (!acked.ok()) {
    return acked;
  }
  for (const auto& [sequence, alert] : *pending) on_topic_.erase(AlertDeliveryId(alert.outcome));
  return true;
}

absl::Status AlertPublisher::Run() {
  while (!stop_.load()) {
    if (absl::Status read = ReadBackTopic(); read.ok())
      break;
    else
      CRM_LOG(kWarning, kComponent) << read.message() << "; retrying";
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  while (!stop_.load()) {
    auto sent = DeliverOnce();
    if (!sent.ok()) return sent.status();
    if (!*sent) std::this_thread::sleep_for(std::chrono::milliseconds(options_.poll_interval_ms));
  }
  return absl::OkStatus();
}

}  // namespace crm
