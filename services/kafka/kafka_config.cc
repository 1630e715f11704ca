#include "services/kafka/kafka_config.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include "absl/strings/str_cat.h"
#include "services/common/log.h"

namespace crm {
namespace {

// Every client's log and error events, through the service's log.
class LogRouter final : public RdKafka::EventCb {
 public:
  void event_cb(RdKafka::Event& event) override {
    if (event.type() == RdKafka::Event::EVENT_LOG) {
      RouteKafkaLog(event.severity(), event.fac().c_str(), event.str().c_str());
    } else if (event.type() == RdKafka::Event::EVENT_ERROR) {
      RouteKafkaLog(event.fatal() ? 3 : 4, RdKafka::err2str(event.err()).c_str(),
                    event.str().c_str());
    }
  }
};

}  // namespace

void RouteKafkaLog(int level, const char* facility, const char* message) {
  const LogLevel ours = level <= 3   ? LogLevel::kError
                        : level == 4 ? LogLevel::kWarning
                        : level <= 6 ? LogLevel::kInfo
                                     : LogLevel::kDebug;
  if (LogEnabled(ours)) LogLine(ours, "kafka", absl::StrCat(facility, ": ", message));
}

absl::StatusOr<std::unique_ptr<RdKafka::Conf>> MakeKafkaConf(KafkaProperties defaults,
                                                             const KafkaProperties& overrides) {
  for (const auto& [key, value] : overrides) defaults[key] = value;
  return MakeKafkaConf(defaults);
}

absl::StatusOr<std::unique_ptr<RdKafka::Conf>> MakeKafkaConf(const KafkaProperties& properties) {
  static LogRouter router;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
  if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(&router), error) !=
      RdKafka::Conf::CONF_OK) {
    return absl::InternalError("cannot route librdkafka's logs: " + error);
  }
  for (const auto& [key, value] : properties) {
    if (conf->set(key, value, error) != RdKafka::Conf::CONF_OK) {
      return absl::InvalidArgumentError(absl::StrCat("Kafka property '", key, "': ", error));
    }
  }
  return conf;
}

absl::StatusOr<KafkaProperties> ParseKafkaAssignments(const std::vector<std::string>& assignments) {
  KafkaProperties properties;
  for (const std::string& assignment : assignments) {
    const auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--kafka expects KEY=VALUE, got '", assignment, "'"));
    }
    properties[assignment.substr(0, eq)] = assignment.substr(eq + 1);
  }
  return properties;
}

bool IsSecretKafkaProperty(const std::string& key) {
  for (const char* marker :
       {"password", "secret", "key.pem", "sasl.oauthbearer.config", "ssl.key", "ssl_key"}) {
    if (key.find(marker) != std::string::npos) return true;
  }
  return false;
}

bool IsKafkaPartitioner(const std::string& name) {
  return name == "consistent_random" || name == "consistent" || name == "murmur2_random" ||
         name == "murmur2" || name == "fnv1a_random" || name == "fnv1a";
}

std::int32_t KafkaPartitionOf(const std::string& partitioner, std::string_view key,
                              std::int32_t count) {
  // librdkafka's own functions: what its producers do, byte for byte.
  if (partitioner.starts_with("murmur2")) {
    return rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(), count, nullptr,
                                            nullptr);
  }
  if (partitioner.starts_with("fnv1a")) {
    return rd_kafka_msg_partitioner_fnv1a(nullptr, key.data(), key.size(), count, nullptr, nullptr);
  }
  return rd_kafka_msg_partitioner_consistent(nullptr, key.data(), key.size(), count, nullptr,
                                             nullptr);
}

}  // namespace crm
