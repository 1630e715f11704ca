#include "services/app/scoring_app.h"

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <tuple>

#include "core/clock.h"
#include "core/ingest_processor.h"
#include "core/partition_ownership.h"
#include "core/scorer.h"
#include "services/common/file_audit_log.h"
#include "services/common/log.h"
#include "services/grpc/scoring_service.h"
#include "services/kafka/alert_feed.h"
#include "services/kafka/alert_publisher.h"
#include "services/kafka/changelog_topic.h"
#include "services/kafka/cluster_topic.h"
#include "services/kafka/dead_letter_sink.h"
#include "services/kafka/embedded_broker.h"
#include "services/kafka/touchpoint_consumer.h"
#include "services/metrics/prometheus_metrics.h"
#include "services/model/model_file.h"
#include "services/storage/rocksdb_state_store.h"

namespace crm {
namespace {

constexpr std::string_view kComponent = "crm-scored";
// The health service's name for ingestion: NOT_SERVING while the brokers are
// away or the disk is full (queries are still answered: the server itself
// stays SERVING).
const std::string kIngestHealth = "crm.v1.Ingest";

int Fatal(std::string_view what, const absl::Status& status) {
  CRM_LOG(kError, kComponent) << what << ": " << status.message();
  return 1;
}

LogLevel ParseLevel(const std::string& level) {
  if (level == "debug") return LogLevel::kDebug;
  if (level == "warn") return LogLevel::kWarning;
  if (level == "error") return LogLevel::kError;
  return LogLevel::kInfo;
}

std::string HostOf(const std::string& listen) { return listen.substr(0, listen.rfind(':')); }

// What identifies a version of the model file on disk, to notice it changed.
struct FileStamp {
  std::filesystem::file_time_type modified{};
  std::uintmax_t size = 0;
  bool operator==(const FileStamp&) const = default;
};
std::optional<FileStamp> StampOf(const std::string& path) {
  std::error_code error;
  FileStamp stamp;
  stamp.modified = std::filesystem::last_write_time(path, error);
  if (error) return std::nullopt;
  stamp.size = std::filesystem::file_size(path, error);
  if (error) return std::nullopt;
  return stamp;
}

// Loads and validates the model file and puts it in use; a bad file is
// logged and counted, and the model in use stays.
void ReloadModel(const std::string& path, Board<Scorer>& scorers, PrometheusMetrics& metrics) {
  absl::StatusOr<Model> model = LoadModelFile(path);
  const std::string current = scorers.Current()->model().version;
  if (!model.ok()) {
    metrics.ModelRejected();
    CRM_LOG(kError, kComponent) << "model rejected, keeping version " << current << ": "
                                << model.status().message();
    return;
  }
  CRM_LOG(kInfo, kComponent) << "model version " << model->version << " loaded from " << path
                             << " (was " << current << ")";
  metrics.ModelLoaded(model->version);
  scorers.Publish(std::make_shared<const Scorer>(std::move(*model)));
}

}  // namespace

int RunScoringApp(const ServiceOptions& options) {
  SetLogLevel(ParseLevel(options.log_level));
  SetLogFormat(options.log_format == "json" ? LogFormat::kJson : LogFormat::kText);
  // libprotobuf reports each record it cannot parse (invalid UTF-8, …) on
  // stderr; those records are rejected and counted already: its lines go to
  // the debug level, so that a stream of bad input cannot flood the log.
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
        if (level >= google::protobuf::LOGLEVEL_FATAL) {
          CRM_LOG(kError, "protobuf") << file << ":" << line << ": " << message;
        } else {
          CRM_LOG(kDebug, "protobuf") << file << ":" << line << ": " << message;
        }
      });
  // gRPC's own lines, through the same log (levels and format).
  gpr_set_log_function([](gpr_log_func_args* args) {
    const LogLevel level = args->severity == GPR_LOG_SEVERITY_ERROR  ? LogLevel::kError
                           : args->severity == GPR_LOG_SEVERITY_INFO ? LogLevel::kInfo
                                                                     : LogLevel::kDebug;
    if (LogEnabled(level)) LogLine(level, "grpc", args->message);
  });
  // Signals are taken by sigwait() below; every thread started from here on
  // inherits the mask. SIGUSR1 is how the consumer thread reports its end.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // A bad model file at start is bad configuration: one line, exit code 2.
  Model model;
  std::optional<FileStamp> model_stamp;
  if (!options.model_file.empty()) {
    model_stamp = StampOf(options.model_file);
    absl::StatusOr<Model> loaded = LoadModelFile(options.model_file);
    if (!loaded.ok()) {
      std::cerr << "crm-scored: --model: " << loaded.status().message() << "\n";
      return 2;
    }
    model = std::move(*loaded);
  }
  // Who may call what: a bad token file is bad configuration too.
  AuthOptions auth;
  auth.admin_identities = options.admin_identities;
  auth.reader_identities = options.reader_identities;
  auth.all_rpcs = options.grpc_auth == "all";
  for (const auto& [flag, file, tokens] :
       {std::tuple{"--admin-token-file", &options.admin_token_file, &auth.admin_tokens},
        std::tuple{"--reader-token-file", &options.reader_token_file, &auth.reader_tokens}}) {
    if (file->empty()) continue;
    auto read = ReadTokenFile(*file);
    if (!read.ok()) {
      std::cerr << "crm-scored: " << flag << ": " << read.status().message() << "\n";
      return 2;
    }
    *tokens = std::move(*read);
  }
  if (!options.cluster_token_file.empty()) {
    auto read = ReadTokenFile(options.cluster_token_file);
    if (!read.ok()) {
      std::cerr << "crm-scored: --cluster-token-file: " << read.status().message() << "\n";
      return 2;
    }
    auth.cluster_token = read->front().secret;
  }
  const std::string cluster_token = auth.cluster_token;
  if (options.check_config) {
    std::cout << "crm-scored: configuration valid: " << DescribeOptions(options) << "\n";
    return 0;
  }
  CRM_LOG(kInfo, kComponent) << "starting: " << DescribeOptions(options);
  CRM_LOG(kInfo, kComponent) << "model version " << model.version
                             << (options.model_file.empty() ? " (built-in)" : "");
  Board<Scorer> scorers(std::make_shared<const Scorer>(std::move(model)));
  PopulationBoard population;

  RocksDbOptions db_options;
  db_options.path = options.data_dir;
  db_options.block_cache_mb = options.block_cache_mb;
  db_options.low_priority_compactions = options.low_priority_compactions;
  db_options.sync_writes = options.sync_writes;
  db_options.progress = [](std::uint64_t moved, bool done) {
    CRM_LOG(kInfo, "state") << (done ? "moved to state format " : "moving to state format ")
                            << kStateFormatVersion << " (states under their partition): " << moved
                            << " states" << (done ? ", done" : " so far");
  };
  auto store = RocksDbStateStore::Open(db_options);
  if (!store.ok()) return Fatal("state", store.status());
  auto audit = FileAuditLog::Open(
      options.audit_log.empty() ? (std::filesystem::path(options.data_dir) / "audit.log").string()
                                : options.audit_log);
  if (!audit.ok()) return Fatal("audit log", audit.status());

  std::unique_ptr<EmbeddedBroker> broker;
  std::string brokers = options.brokers;
  if (brokers.empty()) {
    std::vector<TopicSpec> topics = {{options.topic, options.embedded_partitions},
                                     {options.alerts_topic, options.embedded_partitions},
                                     {options.dlq_topic, options.embedded_partitions},
                                     {options.changelog_topic, options.embedded_partitions}};
    auto started = EmbeddedBroker::Start(topics);
    if (!started.ok()) return Fatal("embedded broker", started.status());
    broker = std::move(*started);
    brokers = broker->bootstrap();
    CRM_LOG(kInfo, kComponent) << "embedded broker bootstrap=" << brokers;
  }

  // Before the metrics, whose scrapes read them until the end.
  // Scale-out: the group's instances as the cluster topic tells them.
  const bool clustered = !options.brokers.empty() && !options.cluster_topic.empty();
  ClusterView cluster_view("", std::chrono::milliseconds(3 * options.cluster_heartbeat_ms + 1000));
  RemotePopulationInbox remote_population;
  WallClock clock;
  EventClock event_clock;
  const Clock* query_clock =
      options.clock == "event" ? static_cast<const Clock*>(&event_clock) : &clock;
  // WatchAlerts' subscribers; before the metrics, whose scrapes count them.
  AlertHub alert_hub({.max_subscribers = options.max_watchers});
  auto metrics = PrometheusMetrics::Start(options.metrics_listen);
  if (!metrics.ok()) return Fatal("metrics", metrics.status());
  RocksDbStateStore* db = store->get();
  (*metrics)->ModelLoaded(scorers.Current()->model().version);
  CRM_LOG(kInfo, kComponent) << "metrics listening on http://" << HostOf(options.metrics_listen)
                             << ":" << (*metrics)->port() << "/metrics";

  (*metrics)->OnScrape([db, m = metrics->get(), &population, query_clock, &cluster_view, clustered,
                        &clock, &alert_hub] {
    m->SetWatchers(alert_hub.subscribers(), alert_hub.dropped());
    if (clustered) {
      const std::vector<ClusterMember> members = cluster_view.Members(clock.Now());
      std::set<std::int32_t> claimed;
      for (const ClusterMember& member : members) {
        claimed.insert(member.partitions.begin(), member.partitions.end());
      }
      m->SetCluster(static_cast<std::int64_t>(members.size()),
                    static_cast<std::int64_t>(claimed.size()), cluster_view.ignored_records());
    }
    const StorageStats stats = db->Stats();
    m->SetStorage(stats.live_data_bytes, stats.sst_files_bytes, stats.memtable_bytes,
                  stats.estimated_keys);
    m->SetPopulation(population.Current()->customers());
    const Timestamp now = query_clock->Now();
    if (auto due = db->ScheduleStats(now, 100'000); due.ok()) {
      const double lag =
          due->due > 0 && due->earliest ? DaysBetween(*due->earliest, now) * 86400 : 0;
      m->SetScheduler(due->due, lag);
    }
  });
  DeadLetterOptions dlq_options;
  dlq_options.brokers = brokers;
  dlq_options.topic = options.dlq_topic;
  dlq_options.source_topic = options.topic;
  dlq_options.properties = options.kafka;
  auto dead_letters = KafkaDeadLetterSink::Create(dlq_options);
  if (!dead_letters.ok()) return Fatal("dead-letter producer", dead_letters.status());

  IngestOptions ingest;
  ingest.topic = options.topic;
  ingest.limits.dedup_window = options.dedup_window;
  ingest.cache_entries = options.cache_entries;
  ingest.cache_bytes = options.cache_mb << 20;
  ingest.limits.max_state_bytes = options.max_state_kb << 10;
  ingest.planning_threads = options.planning_threads;
  ingest.erasure_fence_ttl = std::chrono::hours(24) * options.erasure_fence_days;
  IngestProcessor processor(ingest, db, &clock, metrics->get(),
                            {.rejects = DeadLetters{dead_letters->get()},
                             .population = PublishedPopulation{&population},
                             .event_clock = FeedEventClock{&event_clock}});
  // The changelog, where partitions' states follow them between instances;
  // not with the embedded broker, whose data ends with the process.
  std::unique_ptr<KafkaChangelog> changelog;
  std::function<void()> recheck_alerts;  // set once the publisher is made
  if (!options.brokers.empty() && !options.changelog_topic.empty()) {
    auto created = KafkaChangelog::Create({.brokers = brokers,
                                           .topic = options.changelog_topic,
                                           .group = options.group,
                                           .properties = options.kafka});
    if (!created.ok()) return Fatal("changelog", created.status());
    changelog = std::move(*created);
    processor.EnableChangelog(
        {.sink = changelog.get(),
         .source = changelog.get(),
         .new_epoch =
             [engine = std::make_shared<std::mt19937_64>(
                  std::random_device()() ^ static_cast<std::uint64_t>(ToMicros(clock.Now())))] {
               std::uint64_t epoch = 0;
               while (epoch == 0) epoch = (*engine)();
               return epoch;
             },
         .alerts_restored =
             [&recheck_alerts] {
               if (recheck_alerts) recheck_alerts();
             },
         .tombstone_retention = std::chrono::milliseconds(options.changelog_delete_retention_ms)});
    CRM_LOG(kInfo, kComponent) << "changelog " << options.changelog_topic
                               << ": partitions given to this instance are restored from it";
  }
  const AlertPolicy& alert_policy = options.alert_policy;
  processor.EnableAlerts({.scorers = &scorers,
                          .policy = &alert_policy,
                          .clock = options.clock == "event" ? nullptr : &clock});
  if (absl::Status loaded = processor.Load(); !loaded.ok()) {
    return Fatal("population", loaded);
  }
  CRM_LOG(kInfo, kComponent) << "population: " << population.Current()->customers()
                             << " buyers; latest event time " << IsoTime(event_clock.Now())
                             << "; queries use the " << options.clock << " clock";

  // Served only once the population is loaded: a query before would rank the
  // customer against an empty population.
  // WatchAlerts streams see every alert that reaches the topic, whichever
  // instance delivered it: the hub is fed from the topic itself.
  auto alert_feed = AlertFeed::Create(
      {.brokers = brokers, .topic = options.alerts_topic, .properties = options.kafka},
      [&alert_hub](const AlertEvent& alert) { alert_hub.Publish(alert); });
  if (!alert_feed.ok()) return Fatal("alert feed", alert_feed.status());
  ErasureQueue erasures;
  PartitionOwnership restoring;
  auto peer_credentials =
      PeerCredentials({options.grpc_tls_cert, options.grpc_tls_key, options.grpc_tls_client_ca},
                      options.peer_tls_ca);
  if (!peer_credentials.ok()) return Fatal("gRPC peers", peer_credentials.status());
  const auto partition_of = [partitioner = options.partitioner](std::string_view key,
                                                                std::int32_t count) {
    return KafkaPartitionOf(partitioner, key, count);
  };
  const bool auth_configured = !auth.admin_tokens.empty() || !auth.admin_identities.empty();
  const Authorizer authorizer(std::move(auth));
  ScoringServiceImpl service(
      db, &scorers, &population, query_clock,
      {.alerts = &alert_hub,
       .risk_precision = alert_policy.risk_precision,
       .authorizer = &authorizer,
       .erasures = &erasures,
       .wall_clock = &clock,
       .restoring = &restoring,
       .cluster = clustered ? &cluster_view : nullptr,
       .partition_of = partition_of,
       .peer_credentials = *peer_credentials,
       .peers_verified = !options.grpc_tls_cert.empty() && !options.peer_tls_ca.empty(),
       .insecure_peers = options.allow_insecure_peers,
       .cluster_token = cluster_token});
  auto grpc_server =
      GrpcServer::Start(options.grpc_listen, &service,
                        {options.grpc_tls_cert, options.grpc_tls_key, options.grpc_tls_client_ca});
  if (!grpc_server.ok()) return Fatal("gRPC", grpc_server.status());
  (*grpc_server)->SetServing(kIngestHealth, true);
  CRM_LOG(kInfo, kComponent) << "gRPC "
                             << (options.grpc_tls_cert.empty()        ? "in plaintext"
                                 : options.grpc_tls_client_ca.empty() ? "over TLS"
                                                                      : "over TLS, client "
                                                                        "certificates verified")
                             << "; admin calls need "
                             << (auth_configured ? "an admin" : "credentials none has")
                             << "; reads are "
                             << (options.grpc_auth == "all" ? "for readers and admins" : "open");
  CRM_LOG(kInfo, kComponent) << "gRPC listening on " << HostOf(options.grpc_listen) << ":"
                             << (*grpc_server)->port();

  std::unique_ptr<KafkaCluster> cluster;
  if (clustered) {
    std::string address = options.advertise_address;
    if (address.empty()) {
      std::string host = HostOf(options.grpc_listen);
      if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::") {
        char name[256] = {};
        gethostname(name, sizeof(name) - 1);
        host = name;
      }
      address = host + ":" + std::to_string((*grpc_server)->port());
    }
    const std::string instance = options.instance_id.empty() ? address : options.instance_id;
    cluster_view.SetSelf(instance);
    const ClusterTopicOptions cluster_options{.brokers = brokers,
                                              .topic = options.cluster_topic,
                                              .group = options.group,
                                              .instance = instance,
                                              .address = address,
                                              .properties = options.kafka,
                                              .heartbeat_ms = options.cluster_heartbeat_ms};
    auto created = KafkaCluster::Create(cluster_options, &cluster_view, &remote_population);
    // Brokers down at start: the state on disk is served meanwhile (ingest
    // NOT_SERVING), and the group, the changelog and this topic are joined
    // when they come.
    for (bool waited = false; absl::IsUnavailable(created.status()); waited = true) {
      if (!waited) {
        (*grpc_server)->SetServing(kIngestHealth, false);
        (*metrics)->InputConnected(false);
      }
      CRM_LOG(kWarning, kComponent)
          << created.status().message()
          << ": the brokers do not answer; reads are answered from the data dir, ingestion waits; "
             "retrying";
      const timespec no_wait{0, 0};
      if (const int signal = sigtimedwait(&signals, nullptr, &no_wait);
          signal == SIGTERM || signal == SIGINT) {
        CRM_LOG(kInfo, kComponent) << "stopping before the brokers came";
        (*grpc_server)->SetServing(false);
        (*grpc_server)->Shutdown(2000);
        if (absl::Status flushed = (*store)->Flush(); !flushed.ok()) return Fatal("flush", flushed);
        return 0;
      }
      created = KafkaCluster::Create(cluster_options, &cluster_view, &remote_population);
      if (created.ok()) {
        CRM_LOG(kInfo, kComponent) << "brokers reachable: joining the group";
        (*grpc_server)->SetServing(kIngestHealth, true);
        (*metrics)->InputConnected(true);
      }
    }
    if (!created.ok()) return Fatal("cluster", created.status());
    cluster = std::move(*created);
    CRM_LOG(kInfo, kComponent) << "cluster " << options.cluster_topic << ": instance " << instance
                               << " reached at " << address
                               << "; lookups of other instances' partitions are forwarded";
    if (cluster_token.empty() && (auth_configured || options.grpc_auth == "all")) {
      CRM_LOG(kWarning, kComponent)
          << "no --cluster-token-file: calls forwarded to another instance carry no "
             "credentials, so "
          << (options.grpc_auth == "all" ? "reads and erasures" : "erasures")
          << " of customers another instance owns are refused there";
    }
  }

  ConsumerOptions consumer_options;
  consumer_options.brokers = brokers;
  consumer_options.group = options.group;
  consumer_options.topic = options.topic;
  consumer_options.properties = options.kafka;
  consumer_options.max_batch = options.max_batch;
  consumer_options.poll_timeout_ms = options.poll_timeout_ms;
  consumer_options.rescore_interval_ms = options.rescore_interval_ms;
  consumer_options.rescore_batch = options.rescore_batch;
  consumer_options.restore_from_changelog = changelog != nullptr;
  consumer_options.partitioner = options.partitioner;
  consumer_options.population_publish_ms = options.cluster_heartbeat_ms;
  GrpcServer* server = grpc_server->get();
  auto consumer = TouchpointConsumer::Create(
      consumer_options, &processor, db, metrics->get(),
      {.erasures = &erasures,
       .audit = audit->get(),
       .ingesting = [server](bool up) { server->SetServing(kIngestHealth, up); },
       .restoring = &restoring,
       .cluster = cluster.get(),
       .remote_population = &remote_population});
  if (!consumer.ok()) return Fatal("Kafka consumer", consumer.status());

  AlertPublisherOptions publisher_options;
  publisher_options.brokers = brokers;
  publisher_options.topic = options.alerts_topic;
  publisher_options.properties = options.kafka;
  auto publisher = AlertPublisher::Create(publisher_options, db, [&](const AlertEvent& alert) {
    if (changelog) processor.AlertDelivered(alert);
    CRM_LOG(kDebug, "alerts") << "delivered " << alert.outcome.alert_id << " for "
                              << alert.customer_id.value() << ": churn " << alert.churn << ", "
                              << alert.action;
  });
  if (!publisher.ok()) return Fatal("alert producer", publisher.status());
  recheck_alerts = [p = publisher->get()] { p->RecheckTopic(); };
  absl::Status publisher_status;
  std::thread publisher_thread([&] {
    pthread_setname_np(pthread_self(), "alert-publisher");
    publisher_status = (*publisher)->Run();
    if (!publisher_status.ok()) kill(getpid(), SIGUSR1);
  });

  absl::Status consumer_status;
  std::thread consumer_thread([&] {
    pthread_setname_np(pthread_self(), "consumer");
    consumer_status = (*consumer)->Run();
    kill(getpid(), SIGUSR1);  // wake the main thread whatever the outcome
  });

  // Until a stop: SIGHUP reloads the model file, and so does a change of the
  // file, checked every 2 s.
  int signal_number = 0;
  const timespec poll_interval{2, 0};
  for (;;) {
    signal_number = sigtimedwait(&signals, nullptr, &poll_interval);
    if (signal_number == SIGHUP) {
      if (options.model_file.empty()) {
        CRM_LOG(kInfo, kComponent) << "SIGHUP: no --model file to reload";
        continue;
      }
      CRM_LOG(kInfo, kComponent) << "SIGHUP: reloading " << options.model_file;
      model_stamp = StampOf(options.model_file);
      ReloadModel(options.model_file, scorers, **metrics);
      continue;
    }
    if (signal_number > 0) break;
    if (!options.model_file.empty()) {
      std::optional<FileStamp> stamp = StampOf(options.model_file);
      if (stamp && stamp != model_stamp) {
        model_stamp = stamp;
        CRM_LOG(kInfo, kComponent) << options.model_file << " changed: reloading";
        ReloadModel(options.model_file, scorers, **metrics);
      }
    }
  }
  const bool stopped_by_signal = signal_number != SIGUSR1;
  if (stopped_by_signal) {
    CRM_LOG(kInfo, kComponent) << "received " << (signal_number == SIGINT ? "SIGINT" : "SIGTERM")
                               << ", stopping";
  }
  (*grpc_server)->SetServing(false);
  alert_hub.Close();  // ends WatchAlerts streams before the server waits for them
  (*consumer)->Stop();
  consumer_thread.join();
  cluster.reset();  // gone from the group's view at once
  (*publisher)->Stop();
  publisher_thread.join();
  if (!publisher_status.ok()) return Fatal("alert delivery stopped", publisher_status);
  (*grpc_server)->Shutdown(2000);

  if (!consumer_status.ok()) return Fatal("ingestion stopped", consumer_status);
  if (absl::Status flushed = (*store)->Flush(); !flushed.ok()) return Fatal("flush", flushed);
  CRM_LOG(kInfo, kComponent) << "stopped cleanly";
  return 0;
}

}  // namespace crm
