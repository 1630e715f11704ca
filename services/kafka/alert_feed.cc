#include "services/kafka/alert_feed.h"

#include <librdkafka/rdkafkacpp.h>

#include <vector>

#include "crm/v1/scoring.pb.h"
#include "services/codec/alert_codec.h"
#include "services/common/log.h"

namespace crm {
namespace {
constexpr std::string_view kComponent = "alerts";
}  // namespace

absl::StatusOr<std::unique_ptr<AlertFeed>> AlertFeed::Create(const AlertFeedOptions& options,
                                                             Listener listener) {
  std::unique_ptr<AlertFeed> feed(new AlertFeed());
  feed->options_ = options;
  feed->listener_ = std::move(listener);
  auto conf = MakeKafkaConf({{"bootstrap.servers", options.brokers},
                             {"group.id", "crm-scored-alert-feed"},  // never joined: assign only
                             {"client.id", "crm-scored-alert-feed"},
                             {"enable.auto.commit", "false"},
                             {"fetch.wait.max.ms", "100"}},
                            options.properties);
  if (!conf.ok()) return conf.status();
  std::string error;
  feed->consumer_.reset(RdKafka::KafkaConsumer::create(conf->get(), error));
  if (!feed->consumer_) return absl::InvalidArgumentError("alert feed: " + error);
  if (!feed->Position(options.start_timeout_ms)) {
    CRM_LOG(kWarning, kComponent)
        << "alerts topic " << options.topic
        << " not reachable yet: WatchAlerts streams get alerts once it is";
  }
  feed->thread_ = std::thread([f = feed.get()] { f->Run(); });
  return feed;
}

AlertFeed::~AlertFeed() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (consumer_) consumer_->close();
}

bool AlertFeed::Position(int timeout_ms) {
  std::string error;
  std::unique_ptr<RdKafka::Topic> topic(
      RdKafka::Topic::create(consumer_.get(), options_.topic, nullptr, error));
  RdKafka::Metadata* raw = nullptr;
  if (!topic ||
      consumer_->metadata(false, topic.get(), &raw, timeout_ms) != RdKafka::ERR_NO_ERROR) {
    return false;
  }
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  std::vector<RdKafka::TopicPartition*> assignment;
  bool complete = false;
  for (const RdKafka::TopicMetadata* t : *metadata->topics()) {
    if (t->topic() != options_.topic || t->err() != RdKafka::ERR_NO_ERROR) continue;
    complete = !t->partitions()->empty();
    for (const RdKafka::PartitionMetadata* p : *t->partitions()) {
      std::int64_t low = 0, high = 0;
      if (consumer_->query_watermark_offsets(options_.topic, p->id(), &low, &high, timeout_ms) !=
          RdKafka::ERR_NO_ERROR) {
        complete = false;
        break;
      }
      assignment.push_back(RdKafka::TopicPartition::create(options_.topic, p->id(), high));
    }
  }
  const bool assigned = complete && consumer_->assign(assignment) == RdKafka::ERR_NO_ERROR;
  RdKafka::TopicPartition::destroy(assignment);
  if (assigned) reading_.store(true);
  return assigned;
}

void AlertFeed::Run() {
  while (!stop_.load()) {
    if (!reading_.load()) {
      if (!Position(1000)) continue;
      CRM_LOG(kInfo, kComponent) << "alerts topic " << options_.topic
                                 << " reached: WatchAlerts streams get alerts from now on";
    }
    std::unique_ptr<RdKafka::Message> message(consumer_->consume(100));
    if (message->err() != RdKafka::ERR_NO_ERROR) continue;
    v1::ChurnAlert alert;
    absl::StatusOr<AlertEvent> event = absl::InvalidArgumentError("not a ChurnAlert");
    if (alert.ParseFromArray(message->payload(), static_cast<int>(message->len()))) {
      event = FromProto(alert);
    }
    if (!event.ok()) {
      if (unreadable_.fetch_add(1) == 0) {
        CRM_LOG(kWarning, kComponent)
            << "a record of " << options_.topic << "[" << message->partition() << "] at offset "
            << message->offset() << " is unreadable (" << event.status().message()
            << "): skipped (logged once)";
      }
      continue;
    }
    listener_(*std::move(event));
  }
}

}  // namespace crm
