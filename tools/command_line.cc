#include "tools/command_line.h"

#include <librdkafka/rdkafkacpp.h>

#include <iostream>

#include "services/kafka/kafka_config.h"

namespace crm {

std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << app.get_name() << ": " << e.what() << " (see --help)\n";
    return 2;
  }
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<RdKafka::Producer>> MakeProducer(
    const std::string& brokers, const std::vector<std::string>& assignments,
    RdKafka::DeliveryReportCb* delivery) {
  auto overrides = ParseKafkaAssignments(assignments);
  if (!overrides.ok()) return overrides.status();
  KafkaProperties properties = {
      {"bootstrap.servers", brokers}, {"enable.idempotence", "true"}, {"linger.ms", "5"}};
  auto conf = MakeKafkaConf(std::move(properties), *overrides);
  if (!conf.ok()) return conf.status();
  std::string error;
  if (delivery != nullptr && (*conf)->set("dr_cb", delivery, error) != RdKafka::Conf::CONF_OK) {
    return absl::InternalError(error);
  }
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf->get(), error));
  if (!producer) return absl::InvalidArgumentError("Kafka producer: " + error);
  return producer;
}

}  // namespace crm
