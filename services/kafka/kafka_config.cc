#include "services/kafka/kafka_config.h"

#include <librdkafka/rdkafkacpp.h>

#include "absl/strings/str_cat.h"

namespace crm {

absl::StatusOr<std::unique_ptr<RdKafka::Conf>> MakeKafkaConf(KafkaProperties defaults,
                                                             const KafkaProperties& overrides) {
  for (const auto& [key, value] : overrides) defaults[key] = value;
  return MakeKafkaConf(defaults);
}

absl::StatusOr<std::unique_ptr<RdKafka::Conf>> MakeKafkaConf(const KafkaProperties& properties) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
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

}  // namespace crm
