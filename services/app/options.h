#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/alerts.h"
#include "core/clock.h"
#include "core/ingest_loop.h"
#include "core/ingest_processor.h"
#include "services/common/defaults.h"
#include "services/common/log.h"
#include "services/grpc/alert_hub.h"
#include "services/grpc/authorizer.h"
#include "services/kafka/cluster_topic.h"
#include "services/kafka/kafka_config.h"
#include "services/storage/rocksdb_state_store.h"

namespace crm {

// Everything crm-scored can be told, from flags, CRM_* environment variables
// or the --config file (flags win over both). Defaults are the ones below.
struct ServiceOptions {
  std::string brokers;                             // empty: start an embedded broker
  std::string group = std::string(kDefaultGroup);  // consumer group
  std::string data_dir = "./crm-data";             // RocksDB state
  std::string grpc_listen = std::string(kDefaultGrpcListen);
  std::string metrics_listen = std::string(kDefaultMetricsListen);
  std::string http_listen = std::string(kDefaultHttpListen);  // "none": no HTTP server
  std::string model_file;                                     // empty: built-in model
  KafkaProperties kafka;                                      // --kafka KEY=VALUE, repeatable
  std::string topic = std::string(kDefaultTouchpointTopic);
  std::string alerts_topic = std::string(kDefaultAlertsTopic);
  std::string dlq_topic = std::string(kDefaultDeadLetterTopic);
  // Where partitions' states follow them between instances (with --brokers;
  // empty: no changelog, each instance keeps what it built).
  std::string changelog_topic = std::string(kDefaultChangelogTopic);
  // The changelog topic's delete.retention.ms: local checkpoints older than
  // 90 % of it are not replayed from (the partition is restored whole).
  std::int64_t changelog_delete_retention_ms = 86'400'000;
  // How long erasure fences are kept: the input topic's retention.
  int erasure_fence_days = static_cast<int>(
      std::chrono::duration_cast<std::chrono::hours>(IngestOptions{}.erasure_fence_ttl).count() /
      24);
  // Scale-out (with --brokers; empty: this instance answers alone): the
  // compacted topic where the group's instances say which partitions they
  // own and where they are reached, and share their partitions' population.
  std::string cluster_topic = std::string(kDefaultClusterTopic);
  // Where the others reach this instance's gRPC service (empty: the listen
  // address, with this host's name for a wildcard host), and its name in the
  // group (empty: that address).
  std::string advertise_address;
  std::string instance_id;
  // How the producers place a customer's touchpoints by key (librdkafka's
  // default; murmur2_random is the Java client's).
  std::string partitioner = "consistent_random";
  // The claim is republished this often.
  int cluster_heartbeat_ms = ClusterTopicOptions{}.heartbeat_ms;
  std::string peer_tls_ca;               // with TLS: the CA the others' certificates are signed by
  int embedded_partitions = 6;           // topics of the embedded broker
  LogLevel log_level = LogLevel::kInfo;  // debug, info, warn, error
  LogFormat log_format = LogFormat::kText;  // text, or json: one object a line
  // Customer states kept in memory, and the bytes they may hold (0: entries only).
  std::size_t cache_entries = IngestOptions{}.cache_entries;
  std::size_t schedule_entries = IngestOptions{}.schedule_entries;
  std::size_t cache_mb = IngestOptions{}.cache_bytes >> 20;
  // One customer's state at most (0: no cap).
  std::size_t max_state_kb = StateLimits{}.max_state_bytes >> 10;
  std::size_t max_watchers = AlertHubOptions{}.max_subscribers;  // WatchAlerts streams at once
  int planning_threads = IngestOptions{}.planning_threads;  // besides the consumer's, for planning
  int ingest_threads = 1;  // lanes of the ingest, each with its partitions (core/ingest_lanes.h)
  // Event ids remembered per customer.
  std::size_t dedup_window = StateLimits{}.dedup_window;
  std::size_t block_cache_mb = RocksDbOptions{}.block_cache_mb;
  bool low_priority_compactions = true;                   // RocksDB compactions at nice 19
  bool sync_writes = false;                               // fsync the WAL on each commit
  std::size_t max_batch = IngestLoopOptions{}.max_batch;  // records per commit at most
  int poll_timeout_ms =
      IngestLoopOptions{}.poll_timeout_ms;  // longest wait of a poll for its first record
  // Looks due on the wall clock: a round this often at most, of this many
  // looks at most (while more wait, a round between every two polls).
  int look_interval_ms = IngestLoopOptions{}.look_interval_ms;
  std::size_t look_batch = IngestLoopOptions{}.look_batch;
  // "Now" for queries without as_of: wall (the system clock) or event (the
  // latest event time applied: replays of history, tests).
  ClockMode clock = ClockMode::kWall;
  // When churn raises and clears at-risk alerts, what they recommend, and how
  // close the at-risk index stays to each customer's current churn:
  // --alert-raise, --alert-clear, --alert-cooldown-days, --alert-segment,
  // --channel-cost, --risk-precision.
  AlertPolicy alert_policy;
  // gRPC TLS (--grpc-tls-cert, --grpc-tls-key, --grpc-tls-client-ca) and who
  // may call what (--admin-token-file, --admin-identity, --reader-token-file,
  // --reader-identity, --grpc-auth).
  std::string grpc_tls_cert, grpc_tls_key, grpc_tls_client_ca;
  std::string admin_token_file;
  std::vector<std::string> admin_identities;
  std::string reader_token_file;  // readers read, under --grpc-auth all; admins read too
  std::vector<std::string> reader_identities;
  GrpcAuth grpc_auth = GrpcAuth::kAdmin;  // admin: only admin RPCs need a caller; all: every RPC
  // Tokens or --grpc-auth all on a plaintext listener that is not loopback
  // are refused at start unless this is set (credentials would cross the
  // network in the clear).
  bool allow_insecure_listen = false;
  // Scale-out: the secret the instances share to authenticate the calls they
  // forward to each other (empty: a forwarded call is an anonymous one), and
  // whether calls may be forwarded in plaintext to instances not on loopback
  // (with TLS, the others are verified against --peer-tls-ca, required then).
  std::string cluster_token_file;
  bool allow_insecure_peers = false;
  std::string audit_log;  // empty: <data-dir>/audit.log
  // --check-config: validate the configuration (model and token files too),
  // print it and exit instead of running.
  bool check_config = false;
};

struct ParsedOptions {
  std::optional<ServiceOptions> options;  // set when the service should run
  int exit_code = 0;                      // otherwise: 0 after --help, 2 on a bad flag
};

// Parses crm-scored's command line. On a bad flag, value or config file it
// prints one line naming it on stderr and returns exit code 2.
ParsedOptions ParseServiceOptions(int argc, const char* const* argv);

// The effective configuration as one line, secrets masked.
std::string DescribeOptions(const ServiceOptions& options);

}  // namespace crm
