#include "services/app/options.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <sstream>

namespace crm {
namespace {

// A flag and the environment variable that may set it.
struct EnvBinding {
  std::string flag;
  std::string env;
};

// Adds --NAME, also read from CRM_NAME. The environment is applied as if its
// values stood on the command line before the real arguments: a flag given on
// the command line wins, the environment wins over the config file.
template <typename T>
CLI::Option* AddFlag(CLI::App& app, std::vector<EnvBinding>& env, const std::string& name, T& value,
                     const std::string& help) {
  std::string variable = "CRM_" + name;
  for (char& c : variable) c = c == '-' ? '_' : static_cast<char>(std::toupper(c));
  env.push_back({"--" + name, variable});
  return app.add_option("--" + name, value, help + " [env " + variable + "]")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
      ->capture_default_str();
}

// argv with the environment's values inserted after the program name.
std::vector<std::string> WithEnvironment(int argc, const char* const* argv,
                                         const std::vector<EnvBinding>& env) {
  std::vector<std::string> args = {argv[0]};
  for (const EnvBinding& binding : env) {
    if (const char* value = std::getenv(binding.env.c_str())) {
      args.push_back(binding.flag + "=" + value);
    }
  }
  args.insert(args.end(), argv + 1, argv + argc);
  return args;
}

}  // namespace

ParsedOptions ParseServiceOptions(int argc, const char* const* argv) {
  ServiceOptions o;
  std::vector<std::string> kafka;
  std::vector<EnvBinding> env = {{"--config", "CRM_CONFIG"}};
  CLI::App app(
      "crm-scored: reads customer touchpoints from Kafka, keeps each customer's state in "
      "RocksDB exactly once, and serves live churn and appetence scores over gRPC, with "
      "Prometheus metrics. With no --brokers it starts an embedded Kafka broker.",
      "crm-scored");
  app.set_config("--config", "", "Read flags from this file (TOML: flag = value) [env CRM_CONFIG]")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.allow_config_extras(CLI::config_extras_mode::error);
  AddFlag(app, env, "brokers", o.brokers,
          "Kafka bootstrap servers HOST:PORT[,...]; empty: embedded");
  AddFlag(app, env, "group", o.group, "Kafka consumer group");
  AddFlag(app, env, "data-dir", o.data_dir, "Directory of the RocksDB state");
  AddFlag(app, env, "grpc-listen", o.grpc_listen, "gRPC address HOST:PORT (port 0: any)");
  AddFlag(app, env, "metrics-listen", o.metrics_listen, "Prometheus /metrics address HOST:PORT");
  AddFlag(app, env, "model", o.model_file, "Model file (empty: built-in model)")
      ->check(CLI::ExistingFile);
  AddFlag(app, env, "kafka", kafka,
          "librdkafka property KEY=VALUE (repeatable), e.g. "
          "session.timeout.ms=6000 or SASL settings")
      ->type_name("KEY=VALUE")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  AddFlag(app, env, "topic", o.topic, "Touchpoint topic");
  AddFlag(app, env, "alerts-topic", o.alerts_topic, "Alert topic");
  AddFlag(app, env, "dlq-topic", o.dlq_topic, "Dead-letter topic for rejected touchpoints");
  AddFlag(app, env, "embedded-partitions", o.embedded_partitions,
          "Partitions per topic of the embedded broker")
      ->check(CLI::Range(1, 1024));
  AddFlag(app, env, "log-level", o.log_level, "Lowest log level written")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  AddFlag(app, env, "cache-entries", o.cache_entries, "Customer states kept in memory")
      ->check(CLI::Range(std::size_t{0}, std::size_t{100'000'000}));
  AddFlag(app, env, "dedup-window", o.dedup_window, "Event ids remembered per customer")
      ->check(CLI::Range(std::size_t{1}, std::size_t{65536}));
  AddFlag(app, env, "block-cache-mb", o.block_cache_mb, "RocksDB block cache size (MiB)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1 << 20}));
  AddFlag(app, env, "sync-writes", o.sync_writes, "fsync the write-ahead log on every commit");
  AddFlag(app, env, "max-batch", o.max_batch, "Records applied per commit at most")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}));
  AddFlag(app, env, "clock", o.clock,
          "What 'now' is for queries without as_of: wall (the system clock) or event (the "
          "latest event time applied, for replays of history)")
      ->check(CLI::IsMember({"wall", "event"}));

  try {
    std::vector<std::string> args = WithEnvironment(argc, argv, env);
    std::reverse(args.begin() + 1, args.end());  // CLI11 takes them last first
    args.erase(args.begin());
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    std::cout << app.help();
    return {std::nullopt, 0};
  } catch (const CLI::ParseError& e) {
    std::cerr << "crm-scored: " << e.what() << " (see --help)\n";
    return {std::nullopt, 2};
  }
  auto properties = ParseKafkaAssignments(kafka);
  if (!properties.ok()) {
    std::cerr << "crm-scored: " << properties.status().message() << "\n";
    return {std::nullopt, 2};
  }
  o.kafka = std::move(*properties);
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
      << " sync-writes=" << (o.sync_writes ? "true" : "false") << " max-batch=" << o.max_batch
      << " clock=" << o.clock;
  for (const auto& [key, value] : o.kafka) {
    out << " kafka." << key << "=" << (IsSecretKafkaProperty(key) ? "****" : value);
  }
  return out.str();
}

}  // namespace crm
