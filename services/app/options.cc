#include "services/app/options.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <sstream>

namespace crm {
namespace {

// Adds --NAME with its CRM_NAME environment variable.
template <typename T>
CLI::Option* AddFlag(CLI::App& app, const std::string& name, T& value, const std::string& help) {
  std::string env = "CRM_" + name;
  for (char& c : env) c = c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return app.add_option("--" + name, value, help)->envname(env)->capture_default_str();
}

}  // namespace

ParsedOptions ParseServiceOptions(int argc, const char* const* argv) {
  ServiceOptions o;
  std::vector<std::string> kafka;
  CLI::App app(
      "crm-scored: reads customer touchpoints from Kafka, keeps each customer's state in "
      "RocksDB exactly once, and serves live churn and appetence scores over gRPC, with "
      "Prometheus metrics. With no --brokers it starts an embedded Kafka broker.",
      "crm-scored");
  app.set_config("--config", "", "Read flags from this file (TOML: flag = value)");
  AddFlag(app, "brokers", o.brokers, "Kafka bootstrap servers HOST:PORT[,...]; empty: embedded");
  AddFlag(app, "group", o.group, "Kafka consumer group");
  AddFlag(app, "data-dir", o.data_dir, "Directory of the RocksDB state");
  AddFlag(app, "grpc-listen", o.grpc_listen, "gRPC address HOST:PORT (port 0: any)");
  AddFlag(app, "metrics-listen", o.metrics_listen, "Prometheus /metrics address HOST:PORT");
  AddFlag(app, "model", o.model_file, "Model file (empty: built-in model)")
      ->check(CLI::ExistingFile);
  AddFlag(app, "kafka", kafka,
          "librdkafka property KEY=VALUE (repeatable), e.g. "
          "session.timeout.ms=6000 or SASL settings")
      ->type_name("KEY=VALUE");
  AddFlag(app, "topic", o.topic, "Touchpoint topic");
  AddFlag(app, "alerts-topic", o.alerts_topic, "Alert topic");
  AddFlag(app, "dlq-topic", o.dlq_topic, "Dead-letter topic for rejected touchpoints");
  AddFlag(app, "embedded-partitions", o.embedded_partitions,
          "Partitions per topic of the embedded broker")
      ->check(CLI::Range(1, 1024));
  AddFlag(app, "log-level", o.log_level, "Lowest log level written")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  AddFlag(app, "cache-entries", o.cache_entries, "Customer states kept in memory")
      ->check(CLI::Range(std::size_t{0}, std::size_t{100'000'000}));
  AddFlag(app, "dedup-window", o.dedup_window, "Event ids remembered per customer")
      ->check(CLI::Range(std::size_t{1}, std::size_t{65536}));
  AddFlag(app, "block-cache-mb", o.block_cache_mb, "RocksDB block cache size (MiB)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1 << 20}));
  AddFlag(app, "sync-writes", o.sync_writes, "fsync the write-ahead log on every commit");
  AddFlag(app, "max-batch", o.max_batch, "Records applied per commit at most")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::cout << app.help();
    return {std::nullopt, 0};
  } catch (const CLI::ParseError& e) {
    std::cerr << "crm-scored: " << e.what() << " (see --help)\n";
    return {std::nullopt, 2};
  }
  for (const std::string& property : kafka) {
    const auto eq = property.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "crm-scored: --kafka expects KEY=VALUE, got '" << property << "'\n";
      return {std::nullopt, 2};
    }
    o.kafka[property.substr(0, eq)] = property.substr(eq + 1);
  }
  for (const std::string* address : {&o.grpc_listen, &o.metrics_listen}) {
    if (address->rfind(':') == std::string::npos) {
      std::cerr << "crm-scored: listen address '" << *address << "' lacks :PORT\n";
      return {std::nullopt, 2};
    }
  }
  if (o.data_dir.empty()) {
    std::cerr << "crm-scored: --data-dir is empty\n";
    return {std::nullopt, 2};
  }
  return {std::move(o), 0};
}

std::string DescribeOptions(const ServiceOptions& o) {
  std::ostringstream out;
  out << "brokers=" << (o.brokers.empty() ? "(embedded)" : o.brokers) << " group=" << o.group
      << " data-dir=" << o.data_dir << " grpc-listen=" << o.grpc_listen
      << " metrics-listen=" << o.metrics_listen
      << " model=" << (o.model_file.empty() ? "(built-in)" : o.model_file) << " topic=" << o.topic
      << " dlq-topic=" << o.dlq_topic << " cache-entries=" << o.cache_entries
      << " dedup-window=" << o.dedup_window << " block-cache-mb=" << o.block_cache_mb
      << " sync-writes=" << (o.sync_writes ? "true" : "false") << " max-batch=" << o.max_batch;
  for (const auto& [key, value] : o.kafka) {
    out << " kafka." << key << "=" << (IsSecretKafkaProperty(key) ? "****" : value);
  }
  return out.str();
}

}  // namespace crm
