// crm-devbroker: a standalone Kafka-protocol broker (librdkafka's mock
// cluster) on loopback, with the contract's topics, for development and tests.
// Prints "bootstrap=HOST:PORT[,...]" as its first line on stdout and serves
// until SIGTERM or SIGINT.
#include <signal.h>

#include <iostream>

#include "services/kafka/embedded_broker.h"
#include "tools/command_line.h"
#include "tools/stop_signals.h"

// What may escape is what ends the process anyway (allocation failure).
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  int partitions = 6;
  int brokers = 1;
  std::vector<std::string> extra_topics;
  CLI::App app(
      "crm-devbroker: runs an embedded Kafka broker (librdkafka's mock cluster) on loopback with "
      "the topics crm.touchpoints, crm.alerts, crm.touchpoints.dlq, crm.state.changelog (N "
      "partitions each) and crm.cluster (one), prints "
      "bootstrap=HOST:PORT as its first line, and serves until SIGTERM. It keeps only about 5 MB "
      "per partition: size --partitions to the data you produce.",
      "crm-devbroker");
  app.add_option("--partitions", partitions, "Partitions per topic")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--brokers", brokers, "Brokers in the cluster")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  app.add_option("--topic", extra_topics, "Another topic to create (repeatable)");
  if (auto exit_code = crm::ParseCommandLine(app, argc, argv)) return *exit_code;

  const sigset_t signals = crm::BlockStopSignals();

  std::vector<crm::TopicSpec> topics = crm::ContractTopics(partitions);
  for (const std::string& name : extra_topics) topics.push_back({name, partitions});
  auto broker = crm::EmbeddedBroker::Start(topics, brokers);
  if (!broker.ok()) {
    std::cerr << "crm-devbroker: " << broker.status().message() << "\n";
    return 1;
  }
  std::cout << "bootstrap=" << (*broker)->bootstrap() << std::endl;
  crm::WaitForStopSignal(signals);
  return 0;
}
