#include "services/kafka/embedded_broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "services/common/defaults.h"
#include "services/kafka/kafka_config.h"

namespace crm {

std::vector<TopicSpec> ContractTopics(int partitions) {
  return {{std::string(kDefaultTouchpointTopic), partitions},
          {std::string(kDefaultAlertsTopic), partitions},
          {std::string(kDefaultDeadLetterTopic), partitions},
          {std::string(kDefaultChangelogTopic), partitions},
          {std::string(kDefaultClusterTopic), 1}};
}

absl::StatusOr<std::unique_ptr<EmbeddedBroker>> EmbeddedBroker::Start(
    const std::vector<TopicSpec>& topics, int brokers) {
  if (brokers < 1) return absl::InvalidArgumentError("an embedded broker needs >= 1 broker");
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The mock cluster lives in a client handle; this one never produces. Its
  // brokers' sockets take the handle's settings: without Nagle's algorithm,
  // which held a response's last part for the client's delayed
  // acknowledgement (40 ms), so that a touchpoint took ~80 ms to be seen
  // under a light load.
  for (const auto& [name, value] :
       {std::pair{"log_level", "3"}, std::pair{"socket.nagle.disable", "true"}}) {
    if (rd_kafka_conf_set(conf, name, value, error, sizeof(error)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return absl::InternalError(error);
    }
  }
  rd_kafka_conf_set_log_cb(
      conf, [](const rd_kafka_t*, int level, const char* facility, const char* message) {
        RouteKafkaLog(level, facility, message);
      });
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
  if (handle == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(std::string("embedded broker: ") + error);
  }
  std::unique_ptr<EmbeddedBroker> broker(new EmbeddedBroker());
  broker->handle_ = handle;
  broker->cluster_ = rd_kafka_mock_cluster_new(handle, brokers);
  if (broker->cluster_ == nullptr) return absl::InternalError("cannot start the mock cluster");
  for (const TopicSpec& topic : topics) {
    if (topic.partitions < 1) {
      return absl::InvalidArgumentError("topic " + topic.name + " needs >= 1 partition");
    }
    rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(broker->cluster_, topic.name.c_str(), topic.partitions, 1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::InternalError("cannot create topic " + topic.name + ": " +
                                 rd_kafka_err2str(err));
    }
  }
  broker->bootstrap_ = rd_kafka_mock_cluster_bootstraps(broker->cluster_);
  broker->brokers_ = brokers;
  return broker;
}

absl::Status EmbeddedBroker::SetReachable(bool reachable) {
  for (int id = 1; id <= brokers_; ++id) {  // the mock cluster numbers its brokers from 1
    const rd_kafka_resp_err_t err = reachable ? rd_kafka_mock_broker_set_up(cluster_, id)
                                              : rd_kafka_mock_broker_set_down(cluster_, id);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::InternalError("broker " + std::to_string(id) + ": " + rd_kafka_err2str(err));
    }
  }
  return absl::OkStatus();
}

void EmbeddedBroker::RefuseProduceRequests(int requests) {
  std::vector<rd_kafka_resp_err_t> errors(static_cast<std::size_t>(requests),
                                          RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  constexpr std::int16_t kProduceApiKey = 0;  // the Kafka protocol's
  rd_kafka_mock_push_request_errors_array(cluster_, kProduceApiKey, errors.size(), errors.data());
}

EmbeddedBroker::~EmbeddedBroker() {
  if (cluster_ != nullptr) rd_kafka_mock_cluster_destroy(cluster_);
  if (handle_ != nullptr) rd_kafka_destroy(handle_);
}

}  // namespace crm
