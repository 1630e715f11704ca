#include "services/app/options.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>

#include "absl/status/status.h"
#include "core/check.h"
#include "core/closed_set.h"
#include "core/segment.h"

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

// "NAME=VALUE" split at the first '='; nullopt without one or with an empty side.
std::optional<std::pair<std::string, std::string>> SplitAssignment(const std::string& text) {
  const std::size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) return std::nullopt;
  return std::make_pair(text.substr(0, eq), text.substr(eq + 1));
}

// A finite number, all of `text`.
std::optional<double> ParseNumber(const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

// The alert policy from its flags; an error names the flag and its value.
absl::StatusOr<AlertPolicy> BuildAlertPolicy(AlertPolicy policy, double cooldown_days,
                                             const std::vector<std::string>& segments,
                                             const std::vector<std::string>& costs) {
  if (!(cooldown_days >= 0)) return absl::InvalidArgumentError("--alert-cooldown-days is negative");
  policy.defaults.cooldown = FromDays(cooldown_days);
  for (const std::string& text : segments) {
    const auto assignment = SplitAssignment(text);
    const std::string bad = "--alert-segment '" + text + "': expected SEGMENT=RAISE:CLEAR[:DAYS]";
    if (!assignment) return absl::InvalidArgumentError(bad);
    const std::optional<Segment> segment = ParseSegment(assignment->first);
    if (!segment || *segment == Segment::kNone) {
      return absl::InvalidArgumentError(bad + " (SEGMENT is A, B or C)");
    }
    std::vector<std::optional<double>> numbers;
    std::istringstream fields(assignment->second);
    for (std::string field; std::getline(fields, field, ':');)
      numbers.push_back(ParseNumber(field));
    if (numbers.size() < 2 || numbers.size() > 3 ||
        std::find(numbers.begin(), numbers.end(), std::nullopt) != numbers.end()) {
      return absl::InvalidArgumentError(bad);
    }
    AlertThresholds thresholds = policy.defaults;
    thresholds.raise = *numbers[0];
    thresholds.clear = *numbers[1];
    if (numbers.size() == 3) {
      if (*numbers[2] < 0) return absl::InvalidArgumentError(bad + " (negative cooldown)");
      thresholds.cooldown = FromDays(*numbers[2]);
    }
    policy.by_segment[*segment] = thresholds;
  }
  for (const std::string& text : costs) {
    const auto assignment = SplitAssignment(text);
    const std::string bad = "--channel-cost '" + text + "': expected CHANNEL=COST";
    if (!assignment) return absl::InvalidArgumentError(bad);
    int channel = 0;
    for (int c = 1; c < kChannelCount; ++c) {
      if (ChannelName(static_cast<Channel>(c)) == assignment->first) channel = c;
    }
    if (channel == 0) {
      return absl::InvalidArgumentError(bad + " (unknown channel " + assignment->first + ")");
    }
    const std::optional<double> cost = ParseNumber(assignment->second);
    if (!cost) return absl::InvalidArgumentError(bad);
    policy.channel_cost[channel] = *cost;
  }
  if (absl::Status valid = ValidateAlertPolicy(policy); !valid.ok()) {
    return absl::InvalidArgumentError(
        "--alert-raise, --alert-clear, --alert-segment, --channel-cost or --risk-precision: " +
        std::string(valid.message()));
  }
  return policy;
}

// Whether `listen` (HOST:PORT) is bound to a loopback address only.
bool IsLoopbackListen(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// What some flags are read into before they become part of ServiceOptions.
struct FlagInputs {
  std::vector<std::string> kafka;  // --kafka KEY=VALUE, of the environment and the command line
  double cooldown_days = 14;
  std::vector<std::string> segment_thresholds, channel_costs;
  int outcome_window_days = static_cast<int>(
      std::chrono::duration_cast<std::chrono::days>(kDefaultOutcomeWindow).count());
  // The modes by name, parsed into ServiceOptions by Complete; the defaults
  // are ServiceOptions'.
  std::string log_level = std::string(LogLevelName(ServiceOptions{}.log_level));
  std::string log_format = std::string(LogFormatName(ServiceOptions{}.log_format));
  std::string clock = std::string(ClockModeName(ServiceOptions{}.clock));
  std::string grpc_auth = std::string(GrpcAuthName(ServiceOptions{}.grpc_auth));
};

// The value `text` names; `text` passed its CLI::IsMember check.
template <typename ParseFn>
auto ParsedName(const std::string& text, ParseFn parse) {
  const auto value = parse(text);
  CRM_CHECK(value.has_value());
  return *value;
}

// The input, the changelog and the cluster.
void AddSourceFlags(CLI::App& app, std::vector<EnvBinding>& env, ServiceOptions& o,
                    FlagInputs& in) {
  AddFlag(app, env, "brokers", o.brokers,
          "Kafka bootstrap servers HOST:PORT[,...]; empty: embedded");
  AddFlag(app, env, "group", o.group, "Kafka consumer group");
  AddFlag(app, env, "data-dir", o.data_dir, "Directory of the RocksDB state");
  AddFlag(app, env, "grpc-listen", o.grpc_listen, "gRPC address HOST:PORT (port 0: any)");
  AddFlag(app, env, "metrics-listen", o.metrics_listen, "Prometheus /metrics address HOST:PORT");
  AddFlag(app, env, "http-listen", o.http_listen,
          "HTTP/JSON API and agents' desk address HOST:PORT (port 0: any; none: off)");
  AddFlag(app, env, "model", o.model_file, "Model file (empty: built-in model)")
      ->check(CLI::ExistingFile);
  AddFlag(app, env, "kafka", in.kafka,
          "librdkafka property KEY=VALUE (repeatable), e.g. "
          "session.timeout.ms=6000 or SASL settings")
      ->type_name("KEY=VALUE")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  AddFlag(app, env, "topic", o.topic, "Touchpoint topic");
  AddFlag(app, env, "alerts-topic", o.alerts_topic, "Alert topic");
  AddFlag(app, env, "dlq-topic", o.dlq_topic, "Dead-letter topic for rejected touchpoints");
  AddFlag(app, env, "changelog-topic", o.changelog_topic,
          "Compacted topic every state change is written to before it is committed, partitioned "
          "as the input: a partition given to this instance is restored from it (with --brokers; "
          "'none': no changelog)");
  AddFlag(app, env, "changelog-delete-retention-ms", o.changelog_delete_retention_ms,
          "The changelog topic's delete.retention.ms (set both alike): a local checkpoint older "
          "than 90 % of it is not replayed from, since an erasure's tombstone after it may be "
          "compacted away; the partition is then restored from the changelog's start")
      ->check(CLI::Range(std::int64_t{60'000}, std::int64_t{365} * 86'400'000));
  AddFlag(app, env, "erasure-fence-days", o.erasure_fence_days,
          "How long an erased customer's touchpoints that occurred before the erasure are "
          "dropped when they arrive late: the input topic's retention")
      ->check(CLI::Range(1, 3650));
  AddFlag(app, env, "cluster-topic", o.cluster_topic,
          "Compacted topic where the group's instances publish the partitions they own, their "
          "gRPC address and their partitions' population: a lookup reaching any instance is "
          "forwarded to the owner (with --brokers; 'none': this instance answers alone)");
  AddFlag(app, env, "advertise-address", o.advertise_address,
          "HOST:PORT the other instances reach this one's gRPC service at (default: "
          "--grpc-listen, with this host's name for a wildcard host)");
  AddFlag(app, env, "instance-id", o.instance_id,
          "This instance's name in the group (default: its advertised address)");
  AddFlag(app, env, "partitioner", o.partitioner,
          "How the producers partition touchpoints by customer id: librdkafka's "
          "consistent_random (its default), consistent, murmur2_random (the Java client's "
          "default), murmur2, fnv1a_random or fnv1a")
      ->check(CLI::IsMember({"consistent_random", "consistent", "murmur2_random", "murmur2",
                             "fnv1a_random", "fnv1a"}));
  AddFlag(app, env, "cluster-heartbeat-ms", o.cluster_heartbeat_ms,
          "How often this instance republishes its claim; one silent for 3 of these is taken "
          "as gone")
      ->check(CLI::Range(100, 60'000));
  AddFlag(app, env, "peer-tls-ca", o.peer_tls_ca,
          "With --grpc-tls-cert: the CA file the other instances' certificates are verified "
          "against when a call is forwarded (required with TLS in a cluster)")
      ->check(CLI::ExistingFile);
  AddFlag(app, env, "embedded-partitions", o.embedded_partitions,
          "Partitions per topic of the embedded broker")
      ->check(CLI::Range(1, 1024));
}

// Logging, the state, the cache and the ingest schedule.
void AddEngineFlags(CLI::App& app, std::vector<EnvBinding>& env, ServiceOptions& o,
                    FlagInputs& in) {
  AddFlag(app, env, "log-level", in.log_level, "Lowest log level written")
      ->check(CLI::IsMember(NamesOf(kLogLevels, LogLevelName)));
  AddFlag(app, env, "log-format", in.log_format,
          "How log lines are written: text, or json (one object a line: ts, level, component, "
          "msg)")
      ->check(CLI::IsMember(NamesOf(kLogFormats, LogFormatName)));
  AddFlag(app, env, "cache-entries", o.cache_entries, "Customer states kept in memory")
      ->check(CLI::Range(std::size_t{0}, std::size_t{100'000'000}));
  AddFlag(app, env, "schedule-entries", o.schedule_entries,
          "Next looks held in memory, shared out among the input partitions owned, each "
          "holding its earliest; the others are read from the states again when these run out")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000'000}));
  AddFlag(app, env, "cache-mb", o.cache_mb,
          "MiB the cached customer states may hold, as estimated (0: bounded by entries only)")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1 << 20}));
  AddFlag(app, env, "max-state-kb", o.max_state_kb,
          "KiB one customer's state may hold; a touchpoint that would exceed it is rejected "
          "(state_too_large; 0: no cap)")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1 << 20}));
  AddFlag(app, env, "max-watchers", o.max_watchers,
          "WatchAlerts streams at once; one more is refused with RESOURCE_EXHAUSTED")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000}));
  AddFlag(app, env, "ingest-threads", o.ingest_threads,
          "Threads that apply and commit the input, each with its own share of the partitions "
          "owned, its cache and its schedule of looks (the consumer's thread among them)")
      ->check(CLI::Range(1, 64));
  AddFlag(app, env, "planning-threads", o.planning_threads,
          "Threads besides the consumer's that plan customers' next looks at each commit "
          "(0: the consumer's alone)")
      ->check(CLI::Range(0, 64));
  AddFlag(app, env, "dedup-window", o.dedup_window, "Event ids remembered per customer")
      ->check(CLI::Range(std::size_t{1}, std::size_t{65536}));
  AddFlag(app, env, "block-cache-mb", o.block_cache_mb, "RocksDB block cache size (MiB)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1 << 20}));
  AddFlag(app, env, "sync-writes", o.sync_writes, "fsync the write-ahead log on every commit");
  AddFlag(app, env, "low-priority-compactions", o.low_priority_compactions,
          "Run RocksDB compactions at the lowest CPU priority, behind the consumer thread");
  AddFlag(app, env, "max-batch", o.max_batch, "Records applied per commit at most")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}));
  AddFlag(app, env, "poll-timeout-ms", o.poll_timeout_ms,
          "Longest wait of a poll for its first record (also how soon a stop is seen)")
      ->check(CLI::Range(1, 10'000));
  AddFlag(app, env, "rescore-interval-ms", o.look_interval_ms,
          "Looks due on the wall clock are taken in rounds this often at most (while more "
          "are due than one round takes, a round runs between every two polls)")
      ->check(CLI::Range(1, 3'600'000));
  AddFlag(app, env, "rescore-batch", o.look_batch,
          "Looks taken per round (and per commit) at most: the longest pause a round adds "
          "between two polls")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000}));
  AddFlag(app, env, "clock", in.clock,
          "What 'now' is for queries without as_of: wall (the system clock) or event (the "
          "latest event time applied, for replays of history)")
      ->check(CLI::IsMember(NamesOf(kClockModes, ClockModeName)));
}

// When alerts are raised and cleared, and what they recommend.
void AddAlertFlags(CLI::App& app, std::vector<EnvBinding>& env, ServiceOptions& o, FlagInputs& in) {
  AlertPolicy& policy = o.alert_policy;
  AddFlag(app, env, "alert-raise", policy.defaults.raise,
          "Churn at or above which an at-risk alert is raised");
  AddFlag(app, env, "alert-clear", policy.defaults.clear,
          "Churn below which an open alert clears (below --alert-raise: no flapping)");
  AddFlag(app, env, "alert-cooldown-days", in.cooldown_days,
          "Days after an alert before another may be raised for the same customer");
  AddFlag(app, env, "alert-segment", in.segment_thresholds,
          "Thresholds of one ABC segment, SEGMENT=RAISE:CLEAR[:COOLDOWN_DAYS] (repeatable), "
          "e.g. A=0.6:0.4")
      ->type_name("SEG=R:C[:D]")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  AddFlag(app, env, "channel-cost", in.channel_costs,
          "Relative cost of one contact on a channel, CHANNEL=COST (repeatable), e.g. "
          "PHONE=4; the recommended channel weighs use against cost")
      ->type_name("CHANNEL=COST")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  AddFlag(app, env, "control-share", policy.marketing.control_share,
          "Share of the alerts otherwise for marketing held out as the control group (no "
          "proactive contact), chosen by alert id, so that the win-back's uplift is measured")
      ->check(CLI::Range(0.0, 0.5));
  AddFlag(app, env, "max-contacts-30d", policy.marketing.max_contacts_30d,
          "A customer with more campaign contacts than this in 30 days gets no alert for "
          "marketing (contact pressure); 0: no limit")
      ->check(CLI::Range(0U, kMaxContacts30dLimit));
  AddFlag(app, env, "outcome-window-days", in.outcome_window_days,
          "Days after an alert within which a purchase counts as the customer recovered, and "
          "its revenue as the alert's")
      ->check(CLI::Range(1, 365));
}

// TLS and who may call what.
void AddAccessFlags(CLI::App& app, std::vector<EnvBinding>& env, ServiceOptions& o,
                    FlagInputs& in) {
  AddFlag(app, env, "grpc-tls-cert", o.grpc_tls_cert, "gRPC TLS certificate (PEM); empty: no TLS")
      ->check(CLI::ExistingFile);
  AddFlag(app, env, "grpc-tls-key", o.grpc_tls_key, "gRPC TLS private key (PEM)")
      ->check(CLI::ExistingFile);
  AddFlag(app, env, "grpc-tls-client-ca", o.grpc_tls_client_ca,
          "CA of client certificates (PEM): clients may authenticate with a certificate "
          "(mutual TLS)")
      ->check(CLI::ExistingFile);
  AddFlag(app, env, "admin-token-file", o.admin_token_file,
          "Bearer tokens authorised for admin RPCs (EraseCustomer), one NAME:TOKEN a line")
      ->check(CLI::ExistingFile);
  AddFlag(app, env, "admin-identity", o.admin_identities,
          "Client certificate identity (common name or subject alternative name) authorised "
          "for admin RPCs (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  AddFlag(app, env, "reader-token-file", o.reader_token_file,
          "Bearer tokens of readers, one NAME:TOKEN a line: with --grpc-auth all they read "
          "(lookups, rankings, alerts); only admin credentials erase")
      ->check(CLI::ExistingFile);
  AddFlag(app, env, "reader-identity", o.reader_identities,
          "Client certificate identity (common name or subject alternative name) of a reader "
          "(repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  AddFlag(app, env, "grpc-auth", in.grpc_auth,
          "Which RPCs need an authorised caller: admin (EraseCustomer needs an admin; reads are "
          "open) or all (reads need a reader or an admin)")
      ->check(CLI::IsMember(NamesOf(kGrpcAuths, GrpcAuthName)));
  AddFlag(app, env, "cluster-token-file", o.cluster_token_file,
          "The secret the instances of a cluster share, NAME:TOKEN or TOKEN (the same file on "
          "every instance): a call forwarded to the owner carries it, with the caller's name "
          "and role, in place of the caller's credentials, which never leave the instance they "
          "reached")
      ->check(CLI::ExistingFile);
  env.push_back({"--allow-insecure-peers", "CRM_ALLOW_INSECURE_PEERS"});
  app.add_flag("--allow-insecure-peers", o.allow_insecure_peers,
               "Forward calls in plaintext to instances not on loopback (refused otherwise: their "
               "identity cannot be verified) [env CRM_ALLOW_INSECURE_PEERS]");
  // A flag without a value (also "allow-insecure-listen = true" in the
  // config file, CRM_ALLOW_INSECURE_LISTEN=true in the environment).
  env.push_back({"--allow-insecure-listen", "CRM_ALLOW_INSECURE_LISTEN"});
  app.add_flag("--allow-insecure-listen", o.allow_insecure_listen,
               "Accept bearer tokens or --grpc-auth all on a plaintext gRPC listener that is not "
               "loopback (refused otherwise: credentials would cross the network in the clear) "
               "[env CRM_ALLOW_INSECURE_LISTEN]");
  AddFlag(app, env, "audit-log", o.audit_log,
          "Append-only audit trail of erasures (empty: audit.log in the data dir)");
}

// Parses the environment and `argv` into `app`'s options; an exit code when
// the service should not run (0 after --help, 2 on an error, reported).
std::optional<int> ParseArguments(CLI::App& app, int argc, const char* const* argv,
                                  const std::vector<EnvBinding>& env) {
  try {
    std::vector<std::string> args = WithEnvironment(argc, argv, env);
    std::reverse(args.begin() + 1, args.end());  // CLI11 takes them last first
    args.erase(args.begin());
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ConfigError& e) {
    // CLI11 says "INI was not able to parse KEY": name the file and the key.
    std::string what = e.what();
    constexpr std::string_view kExtra = "INI was not able to parse ";
    if (what.rfind(kExtra, 0) == 0) {
      what = "unknown key '" + what.substr(kExtra.size()) + "' in the config file " +
             app.get_config_ptr()->as<std::string>() + " (its keys are the flags of --help)";
    }
    std::cerr << "crm-scored: " << what << "\n";
    return 2;
  } catch (const CLI::ParseError& e) {
    std::cerr << "crm-scored: " << e.what() << " (see --help)\n";
    return 2;
  }
  return std::nullopt;
}

// The Kafka properties of the config file, then of `kafka` (the environment's
// and the command line's); an error names the bad one.
absl::StatusOr<KafkaProperties> KafkaPropertiesOf(const CLI::App& app,
                                                  std::vector<std::string> kafka) {
  // Kafka properties add up key by key: the config file's first, then those
  // of the environment and the command line, which win (CLI11 alone would
  // drop the whole list of the file as soon as one --kafka is given).
  if (const std::string config = app.get_config_ptr()->as<std::string>(); !config.empty()) {
    try {
      for (const CLI::ConfigItem& item : CLI::ConfigTOML().from_file(config)) {
        if (item.parents.empty() && item.name == "kafka") {
          kafka.insert(kafka.begin(), item.inputs.begin(), item.inputs.end());
        }
      }
    } catch (const CLI::Error& e) {
      return absl::InvalidArgumentError(e.what());
    }
  }
  return ParseKafkaAssignments(kafka);
}

// The listen and advertised addresses and the data dir; an error names the flag.
absl::Status CheckAddresses(const ServiceOptions& o) {
  for (const std::string* address : {&o.grpc_listen, &o.metrics_listen, &o.http_listen}) {
    if (address == &o.http_listen && *address == "none") continue;
    if (address->rfind(':') == std::string::npos) {
      return absl::InvalidArgumentError("listen address '" + *address + "' lacks :PORT");
    }
  }
  return absl::OkStatus();
}

// TLS, credentials and the cluster's peers go together as the flags' help
// says; `o`'s "none" topics are cleared on the way. An error names the flags.
absl::Status CheckSecurity(ServiceOptions& o) {
  auto bad = [](const std::string& message) { return absl::InvalidArgumentError(message); };
  if (o.grpc_tls_cert.empty() != o.grpc_tls_key.empty()) {
    return bad("--grpc-tls-cert and --grpc-tls-key go together");
  }
  if (!o.grpc_tls_client_ca.empty() && o.grpc_tls_cert.empty()) {
    return bad("--grpc-tls-client-ca needs --grpc-tls-cert and --grpc-tls-key");
  }
  if (!o.admin_identities.empty() && o.grpc_tls_client_ca.empty()) {
    return bad("--admin-identity needs --grpc-tls-client-ca (client certificates)");
  }
  if (!o.reader_identities.empty() && o.grpc_tls_client_ca.empty()) {
    return bad("--reader-identity needs --grpc-tls-client-ca (client certificates)");
  }
  const bool credentials = !o.admin_token_file.empty() || !o.reader_token_file.empty();
  if ((credentials || o.grpc_auth == GrpcAuth::kAll) && o.grpc_tls_cert.empty() &&
      !IsLoopbackListen(o.grpc_listen) && !o.allow_insecure_listen) {
    return bad("--grpc-listen " + o.grpc_listen + " is not loopback and has no TLS: " +
               (credentials ? "bearer tokens" : "--grpc-auth all's credentials") +
               " would cross the network in the clear; add --grpc-tls-cert and --grpc-tls-key, "
               "listen on 127.0.0.1, or pass --allow-insecure-listen");
  }
  // The HTTP server has no TLS of its own (a reverse proxy terminates it).
  if ((credentials || o.grpc_auth == GrpcAuth::kAll) && o.http_listen != "none" &&
      !IsLoopbackListen(o.http_listen) && !o.allow_insecure_listen) {
    return bad("--http-listen " + o.http_listen +
               " is not loopback and the HTTP server has no TLS: " +
               (credentials ? "bearer tokens" : "--grpc-auth all's credentials") +
               " would cross the network in the clear; put a TLS proxy in front of it on "
               "127.0.0.1, pass --http-listen none, or pass --allow-insecure-listen");
  }
  if (o.changelog_topic == "none") o.changelog_topic.clear();
  if (o.cluster_topic == "none") o.cluster_topic.clear();
  if (!o.peer_tls_ca.empty() && o.grpc_tls_cert.empty()) {
    return bad("--peer-tls-ca needs --grpc-tls-cert and --grpc-tls-key");
  }
  if (!o.brokers.empty() && !o.cluster_topic.empty() && !o.grpc_tls_cert.empty() &&
      o.peer_tls_ca.empty()) {
    return bad(
        "--peer-tls-ca is required with --grpc-tls-cert in a cluster (--cluster-topic): the other "
        "instances are verified against it, never against public roots");
  }
  if (!o.advertise_address.empty() && o.advertise_address.rfind(':') == std::string::npos) {
    return bad("--advertise-address '" + o.advertise_address + "' lacks :PORT");
  }
  if (o.data_dir.empty()) return bad("--data-dir is empty");
  return absl::OkStatus();
}

// What the parsed flags add up to, checked; an error names the flag.
absl::Status Complete(const CLI::App& app, FlagInputs& in, ServiceOptions& o) {
  o.log_level = ParsedName(in.log_level, ParseLogLevel);
  o.log_format = ParsedName(in.log_format, ParseLogFormat);
  o.clock = ParsedName(in.clock, ParseClockMode);
  o.grpc_auth = ParsedName(in.grpc_auth, ParseGrpcAuth);
  auto properties = KafkaPropertiesOf(app, std::move(in.kafka));
  if (!properties.ok()) return properties.status();
  o.kafka = std::move(*properties);
  if (absl::Status addresses = CheckAddresses(o); !addresses.ok()) return addresses;
  auto built =
      BuildAlertPolicy(o.alert_policy, in.cooldown_days, in.segment_thresholds, in.channel_costs);
  if (!built.ok()) return built.status();
  o.alert_policy = std::move(*built);
  o.alert_policy.marketing.outcome_window = std::chrono::days(in.outcome_window_days);
  return CheckSecurity(o);
}

}  // namespace

ParsedOptions ParseServiceOptions(int argc, const char* const* argv) {
  ServiceOptions o;
  FlagInputs in;
  std::vector<EnvBinding> env = {{"--config", "CRM_CONFIG"}};
  CLI::App app(
      "crm-scored: reads customer touchpoints from Kafka, keeps each customer's state in "
      "RocksDB exactly once, and serves live churn and appetence scores over gRPC, with "
      "Prometheus metrics. With no --brokers it starts an embedded Kafka broker.",
      "crm-scored");
  app.set_config("--config", "", "Read flags from this file (TOML: flag = value) [env CRM_CONFIG]")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.add_flag("--check-config", o.check_config,
               "Validate the configuration (flags, environment, config file, model and token "
               "files), print it as it would run and exit: 0 valid, 2 not")
      ->configurable(false);
  AddSourceFlags(app, env, o, in);
  AddEngineFlags(app, env, o, in);
  AddAlertFlags(app, env, o, in);
  AddAccessFlags(app, env, o, in);
  // Last in --help, after the access flags.
  AddFlag(app, env, "risk-precision", o.alert_policy.risk_precision,
          "A customer is looked at again once their churn moved this much: the at-risk "
          "ranking is this close to the truth");
  if (std::optional<int> exit_code = ParseArguments(app, argc, argv, env)) {
    return {std::nullopt, *exit_code};
  }
  if (absl::Status complete = Complete(app, in, o); !complete.ok()) {
    std::cerr << "crm-scored: " << complete.message() << "\n";
    return {std::nullopt, 2};
  }
  return {std::move(o), 0};
}

std::string DescribeOptions(const ServiceOptions& o) {
  std::ostringstream out;
  out << "brokers=" << (o.brokers.empty() ? "(embedded)" : o.brokers) << " group=" << o.group
      << " data-dir=" << o.data_dir << " grpc-listen=" << o.grpc_listen
      << " metrics-listen=" << o.metrics_listen << " http-listen=" << o.http_listen
      << " model=" << (o.model_file.empty() ? "(built-in)" : o.model_file) << " topic=" << o.topic
      << " dlq-topic=" << o.dlq_topic
      << " changelog-topic=" << (o.changelog_topic.empty() ? "(none)" : o.changelog_topic)
      << " changelog-delete-retention-ms=" << o.changelog_delete_retention_ms
      << " erasure-fence-days=" << o.erasure_fence_days
      << " cluster-topic=" << (o.cluster_topic.empty() ? "(none)" : o.cluster_topic)
      << " advertise-address=" << (o.advertise_address.empty() ? "(listen)" : o.advertise_address)
      << " instance-id=" << (o.instance_id.empty() ? "(address)" : o.instance_id)
      << " partitioner=" << o.partitioner << " cluster-heartbeat-ms=" << o.cluster_heartbeat_ms
      << (o.peer_tls_ca.empty() ? "" : " peer-tls-ca=" + o.peer_tls_ca)
      << " log-level=" << LogLevelName(o.log_level) << " log-format=" << LogFormatName(o.log_format)
      << " cache-entries=" << o.cache_entries << " schedule-entries=" << o.schedule_entries
      << " cache-mb=" << o.cache_mb << " max-state-kb=" << o.max_state_kb
      << " max-watchers=" << o.max_watchers << " ingest-threads=" << o.ingest_threads
      << " planning-threads=" << o.planning_threads << " dedup-window=" << o.dedup_window
      << " block-cache-mb=" << o.block_cache_mb
      << " low-priority-compactions=" << (o.low_priority_compactions ? "true" : "false")
      << " sync-writes=" << (o.sync_writes ? "true" : "false") << " max-batch=" << o.max_batch
      << " poll-timeout-ms=" << o.poll_timeout_ms << " rescore-interval-ms=" << o.look_interval_ms
      << " rescore-batch=" << o.look_batch << " clock=" << ClockModeName(o.clock)
      << " alert-raise=" << o.alert_policy.defaults.raise
      << " alert-clear=" << o.alert_policy.defaults.clear << " alert-cooldown-days="
      << std::chrono::duration<double, std::ratio<86400>>(o.alert_policy.defaults.cooldown).count();
  for (const auto& [segment, t] : o.alert_policy.by_segment) {
    out << " alert-segment." << SegmentName(segment) << "=" << t.raise << ":" << t.clear << ":"
        << std::chrono::duration<double, std::ratio<86400>>(t.cooldown).count();
  }
  out << " grpc-tls=" << (o.grpc_tls_cert.empty() ? "off" : "on")
      << (o.grpc_tls_client_ca.empty() ? "" : " grpc-tls-client-ca=" + o.grpc_tls_client_ca)
      << " grpc-auth=" << GrpcAuthName(o.grpc_auth)
      << " admin-token-file=" << (o.admin_token_file.empty() ? "(none)" : o.admin_token_file);
  for (const std::string& identity : o.admin_identities) out << " admin-identity=" << identity;
  out << " reader-token-file=" << (o.reader_token_file.empty() ? "(none)" : o.reader_token_file);
  for (const std::string& identity : o.reader_identities) out << " reader-identity=" << identity;
  if (o.allow_insecure_listen) out << " allow-insecure-listen=true";
  out << " cluster-token-file=" << (o.cluster_token_file.empty() ? "(none)" : o.cluster_token_file);
  if (o.allow_insecure_peers) out << " allow-insecure-peers=true";
  out << " audit-log=" << (o.audit_log.empty() ? "(data dir)" : o.audit_log);
  out << " control-share=" << o.alert_policy.marketing.control_share
      << " max-contacts-30d=" << o.alert_policy.marketing.max_contacts_30d
      << " outcome-window-days="
      << std::chrono::duration_cast<std::chrono::days>(o.alert_policy.marketing.outcome_window)
             .count();
  out << " risk-precision=" << o.alert_policy.risk_precision << " channel-cost=";
  for (int c = 1; c < kChannelCount; ++c) {
    out << (c > 1 ? "," : "") << ChannelName(static_cast<Channel>(c)) << ":"
        << o.alert_policy.channel_cost[c];
  }
  for (const auto& [key, value] : o.kafka) {
    out << " kafka." << key << "=" << (IsSecretKafkaProperty(key) ? "****" : value);
  }
  return out.str();
}

}  // namespace crm
