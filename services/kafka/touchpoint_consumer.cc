#include "services/kafka/touchpoint_consumer.h"

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "services/codec/touchpoint_codec.h"
#include "services/common/log.h"

namespace crm {
namespace {

constexpr std::string_view kComponent = "consumer";

void DeletePartitions(std::vector<RdKafka::TopicPartition*>& partitions) {
  RdKafka::TopicPartition::destroy(partitions);
}

std::string_view ContentType(RdKafka::Message& message) {
  const RdKafka::Headers* headers = message.headers();
  if (headers == nullptr) return {};
  for (const RdKafka::Headers::Header& header : headers->get_all()) {
    if (header.key() == "content-type" && header.value() != nullptr) {
      return {static_cast<const char*>(header.value()), header.value_size()};
    }
  }
  return {};
}

}  // namespace

// librdkafka's callbacks, run on the consumer thread from inside consume()
// (and close()).
class TouchpointConsumer::Callbacks final : public RdKafka::RebalanceCb, public RdKafka::EventCb {
 public:
  explicit Callbacks(TouchpointConsumer* owner) : owner_(owner) {}

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    ++generation_;
    AssignmentEvent event;
    event.assigned = err == RdKafka::ERR__ASSIGN_PARTITIONS;
    event.incremental = consumer->rebalance_protocol() == "COOPERATIVE";
    for (const RdKafka::TopicPartition* partition : partitions) {
      if (partition->topic() == owner_->options_.topic) {
        event.partitions.push_back(partition->partition());
      }
    }
    if (event.assigned) {
      if (!Assign(consumer, partitions, event)) return;
      // How many partitions there are (asked only on an assignment: a revoke
      // may run inside close(), where a broker request must not be made).
      event.partition_count = owner_->PartitionCount(consumer);
    } else {
      CRM_LOG(kInfo, kComponent) << "revoked " << partitions.size() << " partitions";
      if (event.incremental) {
        if (RdKafka::Error* error = consumer->incremental_unassign(partitions)) delete error;
      } else {
        consumer->unassign();
      }
    }
    // The assignment as the listener keeps it: asking librdkafka for it from
    // this callback can deadlock during close().
    if (listener_ == nullptr) return;
    if (absl::Status applied = listener_->Apply(event); !applied.ok() && fatal_.ok()) {
      fatal_ = applied;
    }
  }

  void event_cb(RdKafka::Event& event) override {
    switch (event.type()) {
      case RdKafka::Event::EVENT_ERROR:
        if (event.fatal()) {
          fatal_ = absl::InternalError("fatal Kafka error: " + event.str());
        } else {
          if (event.err() == RdKafka::ERR__ALL_BROKERS_DOWN) brokers_down_ = true;
          CRM_LOG(kWarning, "kafka") << RdKafka::err2str(event.err()) << ": " << event.str();
        }
        break;
      case RdKafka::Event::EVENT_LOG:
        RouteKafkaLog(event.severity(), event.fac().c_str(), event.str().c_str());
        break;
      default:
        break;
    }
  }

  void set_listener(AssignmentListener* listener) { listener_ = listener; }
  std::uint64_t generation() const { return generation_; }
  const absl::Status& fatal() const { return fatal_; }
  // Whether librdkafka reported every broker down since the last call.
  bool TakeBrokersDown() { return std::exchange(brokers_down_, false); }

 private:
  // The listener prepares the partitions given (restores them), then each
  // is positioned at its stored offset and assigned; those it could not
  // prepare are paused. False on a fatal error (nothing assigned).
  bool Assign(RdKafka::KafkaConsumer* consumer, std::vector<RdKafka::TopicPartition*>& partitions,
              const AssignmentEvent& event) {
    std::set<std::int32_t> unprepared;
    if (listener_ != nullptr) {
      auto prepared = listener_->Prepare(event.partitions);
      if (!prepared.ok()) {
        fatal_ = prepared.status();
        return false;
      }
      unprepared = std::move(*prepared);
    }
    std::vector<RdKafka::TopicPartition*> paused;  // assigned, not consumed
    for (RdKafka::TopicPartition* partition : partitions) {
      auto stored = owner_->store_->GetOffset(partition->topic(), partition->partition());
      if (!stored.ok()) {
        fatal_ = stored.status();
        return false;
      }
      partition->set_offset(stored->value_or(RdKafka::Topic::OFFSET_BEGINNING));
      CRM_LOG(kInfo, kComponent) << "assigned " << partition->topic() << "["
                                 << partition->partition() << "] from "
                                 << (*stored ? "stored offset " + std::to_string(**stored)
                                             : std::string("the beginning"));
      if (partition->topic() == owner_->options_.topic &&
          unprepared.contains(partition->partition())) {
        paused.push_back(partition);
      }
    }
    if (event.incremental) {
      if (RdKafka::Error* error = consumer->incremental_assign(partitions)) {
        fatal_ = absl::InternalError("incremental_assign: " + error->str());
        delete error;
      }
    } else if (RdKafka::ErrorCode e = consumer->assign(partitions); e != RdKafka::ERR_NO_ERROR) {
      fatal_ = absl::InternalError("assign: " + RdKafka::err2str(e));
    }
    if (!paused.empty()) {
      if (RdKafka::ErrorCode e = consumer->pause(paused); e != RdKafka::ERR_NO_ERROR) {
        fatal_ = absl::InternalError("pause: " + RdKafka::err2str(e));
      }
    }
    return true;
  }

  TouchpointConsumer* owner_;
  AssignmentListener* listener_ = nullptr;
  std::uint64_t generation_ = 0;
  absl::Status fatal_;
  bool brokers_down_ = false;
};

absl::StatusOr<std::unique_ptr<TouchpointConsumer>> TouchpointConsumer::Create(
    const ConsumerOptions& options, StateStore* store) {
  if (options.brokers.empty()) return absl::InvalidArgumentError("no brokers given");
  KafkaProperties properties = {{"bootstrap.servers", options.brokers},
                                {"group.id", options.group},
                                {"client.id", "crm-scored"},
                                {"enable.auto.commit", "false"},
                                {"enable.auto.offset.store", "false"},
                                {"auto.offset.reset", "earliest"},
                                {"enable.partition.eof", "false"},
                                {"fetch.wait.max.ms", "20"}};
  auto conf = MakeKafkaConf(std::move(properties), options.properties);
  if (!conf.ok()) return conf.status();

  std::unique_ptr<TouchpointConsumer> consumer(new TouchpointConsumer());
  consumer->options_ = options;
  consumer->store_ = store;
  consumer->callbacks_ = std::make_unique<Callbacks>(consumer.get());
  std::string error;
  if ((*conf)->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(consumer->callbacks_.get()),
                   error) != RdKafka::Conf::CONF_OK ||
      (*conf)->set("event_cb", static_cast<RdKafka::EventCb*>(consumer->callbacks_.get()), error) !=
          RdKafka::Conf::CONF_OK) {
    return absl::InternalError(error);
  }
  consumer->consumer_.reset(RdKafka::KafkaConsumer::create(conf->get(), error));
  if (!consumer->consumer_) return absl::InvalidArgumentError("Kafka consumer: " + error);
  return consumer;
}

TouchpointConsumer::~TouchpointConsumer() = default;

std::int32_t TouchpointConsumer::PartitionCount(RdKafka::KafkaConsumer* consumer) {
  std::string error;
  std::unique_ptr<RdKafka::Topic> topic(
      RdKafka::Topic::create(consumer, options_.topic, nullptr, error));
  if (!topic) return 0;
  RdKafka::Metadata* raw = nullptr;
  if (consumer->metadata(/*all_topics=*/false, topic.get(), &raw, 5000) != RdKafka::ERR_NO_ERROR) {
    delete raw;
    return 0;
  }
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  for (const RdKafka::TopicMetadata* described : *metadata->topics()) {
    if (described->topic() == options_.topic) {
      return static_cast<std::int32_t>(described->partitions()->size());
    }
  }
  return 0;
}

bool TouchpointConsumer::BrokersAnswer(int timeout_ms) {
  RdKafka::Metadata* raw = nullptr;
  const RdKafka::ErrorCode err =
      consumer_->metadata(/*all_topics=*/false, nullptr, &raw, timeout_ms);
  delete raw;
  return err == RdKafka::ERR_NO_ERROR;
}

absl::Status TouchpointConsumer::Start(AssignmentListener* listener) {
  callbacks_->set_listener(listener);
  if (RdKafka::ErrorCode err = consumer_->subscribe({options_.topic});
      err != RdKafka::ERR_NO_ERROR) {
    return absl::InternalError("subscribe to " + options_.topic + ": " + RdKafka::err2str(err));
  }
  CRM_LOG(kInfo, kComponent) << "subscribed to " << options_.topic << " as group "
                             << options_.group;
  return absl::OkStatus();
}

absl::Status TouchpointConsumer::Poll(int timeout_ms, std::size_t max_records, SourceBatch& batch) {
  batch.records.clear();
  batch.produced_at.clear();
  batch.disconnected = false;
  batch.bytes.reset();
  // The batch keeps the messages: its records' values point into them.
  auto messages = std::make_shared<std::vector<std::unique_ptr<RdKafka::Message>>>();
  std::uint64_t generation = callbacks_->generation();
  while (messages->size() < max_records) {
    std::unique_ptr<RdKafka::Message> message(consumer_->consume(timeout_ms));
    timeout_ms = 0;  // after the first wait, take only what is already fetched
    if (callbacks_->generation() != generation) {
      // A rebalance ran inside consume(): records read before it may belong
      // to partitions we no longer own, and the assignment re-positioned
      // every partition at its stored offset, so they will be read again.
      // Records returned from now on follow the new positions: keep those.
      messages->clear();
      generation = callbacks_->generation();
    }
    if (message->err() == RdKafka::ERR__TIMED_OUT) break;
    if (message->err() == RdKafka::ERR_NO_ERROR) {
      messages->push_back(std::move(message));
      continue;
    }
    if (message->err() == RdKafka::ERR__TRANSPORT ||
        message->err() == RdKafka::ERR__ALL_BROKERS_DOWN) {
      batch.disconnected = true;
      break;
    }
    if (message->err() != RdKafka::ERR__PARTITION_EOF) {
      CRM_LOG(kWarning, kComponent) << "consume: " << message->errstr();
    }
    break;
  }
  if (!callbacks_->fatal().ok()) return callbacks_->fatal();
  batch.records.reserve(messages->size());
  for (const auto& message : *messages) {
    InputRecord& record = batch.records.emplace_back();
    record.partition = message->partition();
    record.offset = message->offset();
    if (const std::string* key = message->key()) record.key = *key;
    record.value = std::string_view(static_cast<const char*>(message->payload()), message->len());
    record.payload = DecodeTouchpoint(record.value, ContentType(*message));
    const RdKafka::MessageTimestamp at = message->timestamp();
    if (at.type != RdKafka::MessageTimestamp::MSG_TIMESTAMP_NOT_AVAILABLE) {
      batch.produced_at.push_back(Timestamp(std::chrono::milliseconds(at.timestamp)));
    }
  }
  batch.bytes = std::move(messages);
  return absl::OkStatus();
}

bool TouchpointConsumer::TakeBrokersDown() { return callbacks_->TakeBrokersDown(); }

void TouchpointConsumer::Rewind() {
  std::vector<RdKafka::TopicPartition*> assigned;
  if (consumer_->assignment(assigned) != RdKafka::ERR_NO_ERROR) return;
  for (RdKafka::TopicPartition* partition : assigned) {
    auto stored = store_->GetOffset(partition->topic(), partition->partition());
    partition->set_offset(stored.ok() && *stored ? **stored : RdKafka::Topic::OFFSET_BEGINNING);
    if (RdKafka::ErrorCode err = consumer_->seek(*partition, 5000); err != RdKafka::ERR_NO_ERROR) {
      // Not fetching yet: its position is its stored offset already.
      CRM_LOG(kDebug, kComponent) << "seek " << partition->topic() << "[" << partition->partition()
                                  << "]: " << RdKafka::err2str(err);
    }
  }
  DeletePartitions(assigned);
}

void TouchpointConsumer::Commit(const std::map<std::int32_t, std::int64_t>& next_offsets) {
  std::vector<RdKafka::TopicPartition*> commit;
  commit.reserve(next_offsets.size());
  for (const auto& [partition, next] : next_offsets) {
    commit.push_back(RdKafka::TopicPartition::create(options_.topic, partition, next));
  }
  consumer_->commitAsync(commit);
  DeletePartitions(commit);
}

std::vector<PartitionLag> TouchpointConsumer::Lag() {
  std::vector<PartitionLag> lags;
  std::vector<RdKafka::TopicPartition*> assigned;
  if (consumer_->assignment(assigned) != RdKafka::ERR_NO_ERROR) return lags;
  for (RdKafka::TopicPartition* partition : assigned) {
    std::int64_t low = 0, high = 0;
    if (consumer_->get_watermark_offsets(partition->topic(), partition->partition(), &low, &high) !=
            RdKafka::ERR_NO_ERROR ||
        high < 0) {
      continue;
    }
    auto stored = store_->GetOffset(partition->topic(), partition->partition());
    const std::int64_t next = stored.ok() && *stored ? **stored : low;
    lags.push_back({partition->partition(), std::max<std::int64_t>(0, high - next)});
  }
  DeletePartitions(assigned);
  return lags;
}

void TouchpointConsumer::Close() {
  CRM_LOG(kInfo, kComponent) << "leaving group " << options_.group;
  consumer_->close();
}

}  // namespace crm
