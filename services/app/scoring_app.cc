#include "services/app/scoring_app.h"

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
#include "core/ingest_lanes.h"
#include "core/ingest_loop.h"
#include "core/ingest_processor.h"
#include "core/partition_ownership.h"
#include "core/scorer.h"
#include "services/app/consumer_listener.h"
#include "services/app/model_reloader.h"
#include "services/app/process.h"
#include "services/codec/state_codec.h"
#include "services/common/file_audit_log.h"
#include "services/common/log.h"
#include "services/grpc/scoring_service.h"
#include "services/http/http_server.h"
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

int Fatal(std::string_view what, const absl::Status& status) {
  CRM_LOG(kError, kComponent) << what << ": " << status.message();
  return 1;
}

std::string HostOf(const std::string& listen) { return listen.substr(0, listen.rfind(':')); }

// crm-scored's parts, built in order by Build (each step may end the process
// with an exit code), run by Run and stopped by Shutdown in the order that
// loses nothing. Members are declared in the order they are built, so that
// they are destroyed in reverse. Used from the main thread.
class ScoringApp {
 public:
  ScoringApp(const ServiceOptions& options, const sigset_t& signals)
      : options_(options),
        signals_(signals),
        clustered_(!options.brokers.empty() && !options.cluster_topic.empty()),
        cluster_view_("", std::chrono::milliseconds(3 * options.cluster_heartbeat_ms + 1000)),
        query_clock_(options.clock == ClockMode::kEvent ? static_cast<const Clock*>(&event_clock_)
                                                        : &clock_),
        alert_hub_({.max_subscribers = options.max_watchers}) {}
  // A scrape reads the parts it refreshes from: none once they go (after a
  // scrape under way, if any, is done).
  ~ScoringApp() {
    if (metrics_) metrics_->OnScrape({});
  }
  ScoringApp(const ScoringApp&) = delete;
  ScoringApp& operator=(const ScoringApp&) = delete;
  ScoringApp(ScoringApp&&) = delete;
  ScoringApp& operator=(ScoringApp&&) = delete;

  // Builds every part; an exit code when the service must not run (2: bad
  // configuration, 1: a fatal error, 0: --check-config, or a stop before
  // the brokers came).
  std::optional<int> Build();
  // Runs until a signal to stop or a thread's fatal error, then shuts down;
  // returns the exit code.
  int Run();

 private:
  std::optional<int> Configure();
  std::optional<int> ReadCredentials();
  std::optional<int> OpenState();
  std::optional<int> StartMetrics();
  std::optional<int> BuildIngest();
  std::optional<int> EnableChangelog();
  std::optional<int> StartServing();
  std::optional<int> JoinCluster();
  // KafkaCluster::Create until the brokers answer or a stop signal (the exit
  // code then).
  std::optional<int> WaitForCluster(const ClusterTopicOptions& cluster_options);
  std::optional<int> BuildConsumer();
  // Until a stop: SIGHUP reloads the model file, and so does a change of the
  // file, checked every 2 s. Returns the signal that ended it.
  int WaitForStop();
  // Stops every part in the order that loses nothing, after `signal_number`
  // (SIGUSR1: a thread ended); returns the exit code.
  int Shutdown(int signal_number);

  const ServiceOptions& options_;
  const sigset_t signals_;
  const bool clustered_;  // scale-out: the group's instances as the cluster topic tells them
  Model model_;
  std::optional<FileStamp> model_stamp_;
  AuthOptions auth_;
  std::string cluster_token_;
  bool auth_configured_ = false;
  std::unique_ptr<Board<Scorer>> scorers_;
  PopulationBoard population_;
  // The consumer's cached states, shared with the lookups.
  SharedStates shared_states_;
  std::unique_ptr<RocksDbStateStore> store_;
  std::unique_ptr<FileAuditLog> audit_;
  std::unique_ptr<EmbeddedBroker> broker_;
  std::string brokers_;
  // Before the metrics, whose scrapes read them until the end.
  ClusterView cluster_view_;
  RemotePopulationInbox remote_population_;
  WallClock clock_;
  EventClock event_clock_;
  const Clock* query_clock_;
  AlertHub alert_hub_;  // WatchAlerts' subscribers; scrapes count them
  std::unique_ptr<PrometheusMetrics> metrics_;
  std::unique_ptr<ModelReloader> reloader_;
  // One dead-letter producer and changelog client per lane of the ingest.
  std::vector<std::unique_ptr<KafkaDeadLetterSink>> dead_letters_;
  std::unique_ptr<IngestLanes> lanes_;
  std::unique_ptr<AlertPublisher> publisher_;
  std::vector<std::unique_ptr<KafkaChangelog>> changelogs_;
  std::unique_ptr<AlertFeed> alert_feed_;
  ErasureQueue erasures_;
  PartitionOwnership ownership_;
  std::unique_ptr<Authorizer> authorizer_;
  std::unique_ptr<ScoringServiceImpl> service_;
  std::unique_ptr<GrpcServer> grpc_server_;
  std::unique_ptr<HttpServer> http_server_;  // stopped before the gRPC server it calls
  std::unique_ptr<KafkaCluster> cluster_;
  std::unique_ptr<TouchpointConsumer> consumer_;
  std::unique_ptr<ConsumerListener> consumer_listener_;
  std::unique_ptr<KafkaKeyPartitioner> partitioner_;
  std::unique_ptr<IngestLoop> ingest_loop_;
  // The threads Run starts, joined by Shutdown, and how they ended.
  absl::Status publisher_status_, consumer_status_;
  std::thread publisher_thread_, consumer_thread_;
};

std::optional<int> ScoringApp::Build() {
  for (auto step : {&ScoringApp::Configure, &ScoringApp::OpenState, &ScoringApp::StartMetrics,
                    &ScoringApp::BuildIngest, &ScoringApp::StartServing, &ScoringApp::JoinCluster,
                    &ScoringApp::BuildConsumer}) {
    if (std::optional<int> exit_code = (this->*step)()) return exit_code;
  }
  return std::nullopt;
}

std::optional<int> ScoringApp::Configure() {
  // A bad model file at start is bad configuration: one line, exit code 2.
  if (!options_.model_file.empty()) {
    model_stamp_ = StampOf(options_.model_file);
    absl::StatusOr<Model> loaded = LoadModelFile(options_.model_file);
    if (!loaded.ok()) {
      std::cerr << "crm-scored: --model: " << loaded.status().message() << "\n";
      return 2;
    }
    model_ = std::move(*loaded);
  }
  if (std::optional<int> exit_code = ReadCredentials()) return exit_code;
  if (options_.check_config) {
    std::cout << "crm-scored: configuration valid: " << DescribeOptions(options_) << "\n";
    return 0;
  }
  return std::nullopt;
}

// Who may call what: a bad token file is bad configuration too.
std::optional<int> ScoringApp::ReadCredentials() {
  auth_.admin_identities = options_.admin_identities;
  auth_.reader_identities = options_.reader_identities;
  auth_.all_rpcs = options_.grpc_auth == GrpcAuth::kAll;
  for (const auto& [flag, file, tokens] :
       {std::tuple{"--admin-token-file", &options_.admin_token_file, &auth_.admin_tokens},
        std::tuple{"--reader-token-file", &options_.reader_token_file, &auth_.reader_tokens}}) {
    if (file->empty()) continue;
    auto read = ReadTokenFile(*file);
    if (!read.ok()) {
      std::cerr << "crm-scored: " << flag << ": " << read.status().message() << "\n";
      return 2;
    }
    *tokens = std::move(*read);
  }
  if (!options_.cluster_token_file.empty()) {
    auto read = ReadTokenFile(options_.cluster_token_file);
    if (!read.ok()) {
      std::cerr << "crm-scored: --cluster-token-file: " << read.status().message() << "\n";
      return 2;
    }
    auth_.cluster_token = read->front().secret;
  }
  cluster_token_ = auth_.cluster_token;
  auth_configured_ = !auth_.admin_tokens.empty() || !auth_.admin_identities.empty();
  return std::nullopt;
}

std::optional<int> ScoringApp::OpenState() {
  CRM_LOG(kInfo, kComponent) << "starting: " << DescribeOptions(options_);
  CRM_LOG(kInfo, kComponent) << "model version " << model_.version
                             << (options_.model_file.empty() ? " (built-in)" : "");
  scorers_ = std::make_unique<Board<Scorer>>(std::make_shared<const Scorer>(std::move(model_)));
  RocksDbOptions db_options;
  db_options.path = options_.data_dir;
  db_options.block_cache_mb = options_.block_cache_mb;
  db_options.low_priority_compactions = options_.low_priority_compactions;
  db_options.sync_writes = options_.sync_writes;
  db_options.progress = [](std::uint64_t moved, bool done) {
    CRM_LOG(kInfo, "state") << (done ? "moved to state format " : "moving to state format ")
                            << kStateFormatVersion << " (states under their partition): " << moved
                            << " states" << (done ? ", done" : " so far");
  };
  auto store = RocksDbStateStore::Open(db_options);
  if (!store.ok()) return Fatal("state", store.status());
  store_ = std::move(*store);
  auto audit = FileAuditLog::Open(
      options_.audit_log.empty() ? (std::filesystem::path(options_.data_dir) / "audit.log").string()
                                 : options_.audit_log);
  if (!audit.ok()) return Fatal("audit log", audit.status());
  audit_ = std::move(*audit);

  brokers_ = options_.brokers;
  if (brokers_.empty()) {
    std::vector<TopicSpec> topics = {{options_.topic, options_.embedded_partitions},
                                     {options_.alerts_topic, options_.embedded_partitions},
                                     {options_.dlq_topic, options_.embedded_partitions},
                                     {options_.changelog_topic, options_.embedded_partitions}};
    auto started = EmbeddedBroker::Start(topics);
    if (!started.ok()) return Fatal("embedded broker", started.status());
    broker_ = std::move(*started);
    brokers_ = broker_->bootstrap();
    CRM_LOG(kInfo, kComponent) << "embedded broker bootstrap=" << brokers_;
  }
  return std::nullopt;
}

std::optional<int> ScoringApp::StartMetrics() {
  auto metrics = PrometheusMetrics::Start(options_.metrics_listen, clock_);
  if (!metrics.ok()) return Fatal("metrics", metrics.status());
  metrics_ = std::move(*metrics);
  metrics_->ModelLoaded(scorers_->Current()->model().version);
  CRM_LOG(kInfo, kComponent) << "metrics listening on http://" << HostOf(options_.metrics_listen)
                             << ":" << metrics_->port() << "/metrics";
  reloader_ = std::make_unique<ModelReloader>(options_.model_file, model_stamp_, scorers_.get(),
                                              metrics_.get());
  return std::nullopt;
}

std::optional<int> ScoringApp::BuildIngest() {
  DeadLetterOptions dlq_options;
  dlq_options.brokers = brokers_;
  dlq_options.topic = options_.dlq_topic;
  dlq_options.source_topic = options_.topic;
  dlq_options.properties = options_.kafka;
  std::vector<LanePorts> lanes;
  for (int i = 0; i < options_.ingest_threads; ++i) {
    auto dead_letters = KafkaDeadLetterSink::Create(dlq_options);
    if (!dead_letters.ok()) return Fatal("dead-letter producer", dead_letters.status());
    dead_letters_.push_back(std::move(*dead_letters));
    lanes.push_back({.rejects = dead_letters_.back().get()});
  }

  IngestOptions ingest;
  ingest.topic = options_.topic;
  ingest.limits.dedup_window = options_.dedup_window;
  ingest.cache_entries = options_.cache_entries;
  ingest.schedule_entries = options_.schedule_entries;
  ingest.cache_bytes = options_.cache_mb << 20;
  ingest.limits.max_state_bytes = options_.max_state_kb << 10;
  ingest.planning_threads = options_.planning_threads;
  ingest.planner_started = [] { pthread_setname_np(pthread_self(), "planner"); };
  ingest.erasure_fence_ttl = std::chrono::hours(24) * options_.erasure_fence_days;
  ingest.encode = EncodeState;
  ingest.shared = &shared_states_;
  lanes_ = std::make_unique<IngestLanes>(ingest, store_.get(), &clock_, metrics_.get(), lanes,
                                         &population_, &event_clock_,
                                         [] { pthread_setname_np(pthread_self(), "ingest-lane"); });
  // The alerts' way out, made before the changelog, which asks it to look at
  // the topic again when restored alerts join the outbox.
  const bool with_changelog = !options_.brokers.empty() && !options_.changelog_topic.empty();
  AlertPublisherOptions publisher_options;
  publisher_options.brokers = brokers_;
  publisher_options.topic = options_.alerts_topic;
  publisher_options.properties = options_.kafka;
  std::vector<AlertDeliveryListener*> delivery_listeners = {metrics_.get()};
  if (with_changelog) delivery_listeners.push_back(lanes_.get());
  auto publisher =
      AlertPublisher::Create(publisher_options, store_.get(), std::move(delivery_listeners));
  if (!publisher.ok()) return Fatal("alert producer", publisher.status());
  publisher_ = std::move(*publisher);
  if (with_changelog) {
    if (std::optional<int> exit_code = EnableChangelog()) return exit_code;
  }
  lanes_->EnableAlerts({.scorers = scorers_.get(),
                        .policy = &options_.alert_policy,
                        .clock = options_.clock == ClockMode::kEvent ? nullptr : &clock_});
  // Refreshed at each scrape, once there is an ingest to report.
  metrics_->OnScrape([this, m = metrics_.get(), db = store_.get(), ingest = lanes_.get()] {
    m->SetWatchers(alert_hub_.subscribers(), alert_hub_.dropped());
    if (clustered_) {
      const std::vector<ClusterMember> members = cluster_view_.Members(clock_.Now());
      std::set<std::int32_t> claimed;
      for (const ClusterMember& member : members) {
        claimed.insert(member.partitions.begin(), member.partitions.end());
      }
      m->SetCluster(static_cast<std::int64_t>(members.size()),
                    static_cast<std::int64_t>(claimed.size()), cluster_view_.ignored_records());
    }
    const StorageStats stats = db->Stats();
    m->SetStorage(stats.live_data_bytes, stats.sst_files_bytes, stats.memtable_bytes,
                  stats.estimated_keys);
    m->SetPopulation(population_.Current()->customers());
    const Timestamp now = query_clock_->Now();
    const ScheduleBacklog due = ingest->Backlog(now, 100'000);
    m->SetScheduler(due.due,
                    due.due > 0 && due.earliest ? DaysBetween(*due.earliest, now) * 86400 : 0);
  });
  if (absl::Status loaded = lanes_->Load(); !loaded.ok()) return Fatal("population", loaded);
  CRM_LOG(kInfo, kComponent) << "population: " << population_.Current()->customers()
                             << " buyers; latest event time " << IsoTime(event_clock_.Now())
                             << "; queries use the " << ClockModeName(options_.clock) << " clock";
  return std::nullopt;
}

// The changelog, where partitions' states follow them between instances;
// not with the embedded broker, whose data ends with the process.
std::optional<int> ScoringApp::EnableChangelog() {
  // Each lane its own client (a lane's commits wait for its acknowledgements
  // alone) and its own draw of epochs (lanes begin them at once).
  std::vector<ChangelogContext> contexts;
  for (std::size_t i = 0; i < lanes_->size(); ++i) {
    auto created = KafkaChangelog::Create({.brokers = brokers_,
                                           .topic = options_.changelog_topic,
                                           .group = options_.group,
                                           .properties = options_.kafka});
    if (!created.ok()) return Fatal("changelog", created.status());
    changelogs_.push_back(std::move(*created));
    auto engine = std::make_shared<std::mt19937_64>(
        std::random_device()() ^ static_cast<std::uint64_t>(ToMicros(clock_.Now())) ^ (i << 56));
    contexts.push_back(
        {.sink = changelogs_.back().get(),
         .source = changelogs_.back().get(),
         .new_epoch = [engine] { return std::uniform_int_distribution<std::uint64_t>(1)(*engine); },
         .alerts_restored = [publisher = publisher_.get()] { publisher->RecheckTopic(); },
         .tombstone_retention = std::chrono::milliseconds(options_.changelog_delete_retention_ms)});
  }
  lanes_->EnableChangelog(std::move(contexts));
  CRM_LOG(kInfo, kComponent) << "changelog " << options_.changelog_topic
                             << ": partitions given to this instance are restored from it";
  return std::nullopt;
}

// Served only once the population is loaded: a query before would rank the
// customer against an empty population.
std::optional<int> ScoringApp::StartServing() {
  // WatchAlerts streams see every alert that reaches the topic, whichever
  // instance delivered it: the hub is fed from the topic itself.
  auto alert_feed = AlertFeed::Create(
      {.brokers = brokers_, .topic = options_.alerts_topic, .properties = options_.kafka},
      [this](const AlertEvent& alert) { alert_hub_.Publish(alert); });
  if (!alert_feed.ok()) return Fatal("alert feed", alert_feed.status());
  alert_feed_ = std::move(*alert_feed);
  auto peer_credentials =
      PeerCredentials({options_.grpc_tls_cert, options_.grpc_tls_key, options_.grpc_tls_client_ca},
                      options_.peer_tls_ca);
  if (!peer_credentials.ok()) return Fatal("gRPC peers", peer_credentials.status());
  const auto partition_of = [partitioner = options_.partitioner](std::string_view key,
                                                                 std::int32_t count) {
    return KafkaPartitionOf(partitioner, key, count);
  };
  authorizer_ = std::make_unique<Authorizer>(std::move(auth_));
  service_ = std::make_unique<ScoringServiceImpl>(
      store_.get(), scorers_.get(), &population_, query_clock_,
      ScoringServiceOptions{
          .alerts = &alert_hub_,
          .alert_policy = options_.alert_policy,
          .authorizer = authorizer_.get(),
          .erasures = &erasures_,
          .wall_clock = &clock_,
          .ownership = &ownership_,
          .shared_states = &shared_states_,
          .cluster = clustered_ ? &cluster_view_ : nullptr,
          .partition_of = partition_of,
          .peer_credentials = *peer_credentials,
          .peers_verified = !options_.grpc_tls_cert.empty() && !options_.peer_tls_ca.empty(),
          .insecure_peers = options_.allow_insecure_peers,
          .cluster_token = cluster_token_});
  auto grpc_server = GrpcServer::Start(
      options_.grpc_listen, service_.get(),
      {options_.grpc_tls_cert, options_.grpc_tls_key, options_.grpc_tls_client_ca});
  if (!grpc_server.ok()) return Fatal("gRPC", grpc_server.status());
  grpc_server_ = std::move(*grpc_server);
  grpc_server_->SetServing(kIngestHealth, true);
  CRM_LOG(kInfo, kComponent) << "gRPC "
                             << (options_.grpc_tls_cert.empty()        ? "in plaintext"
                                 : options_.grpc_tls_client_ca.empty() ? "over TLS"
                                                                       : "over TLS, client "
                                                                         "certificates verified")
                             << "; admin calls need "
                             << (auth_configured_ ? "an admin" : "credentials none has")
                             << "; reads are "
                             << (options_.grpc_auth == GrpcAuth::kAll ? "for readers and admins"
                                                                      : "open");
  CRM_LOG(kInfo, kComponent) << "gRPC listening on " << HostOf(options_.grpc_listen) << ":"
                             << grpc_server_->port();
  if (options_.http_listen == "none") return std::nullopt;
  auto http = HttpServer::Start(
      options_.http_listen, grpc_server_->InProcessChannel(),
      {.threads = static_cast<int>(options_.max_watchers) + 16,
       .ready = [server = grpc_server_.get()] { return server->serving(); }},
      {.local_scores = [service = service_.get()](std::string_view authorization,
                                                  const v1::GetCustomerScoresRequest& request,
                                                  v1::CustomerScores* response) {
        return service->GetCustomerScoresHere(authorization, request, response);
      }});
  if (!http.ok()) return Fatal("HTTP", http.status());
  http_server_ = std::move(*http);
  const std::string address =
      HostOf(options_.http_listen) + ":" + std::to_string(http_server_->port());
  CRM_LOG(kInfo, kComponent) << "HTTP listening on " << address;
  CRM_LOG(kInfo, kComponent) << "agents' desk at http://" << address << "/";
  return std::nullopt;
}

std::optional<int> ScoringApp::JoinCluster() {
  if (!clustered_) return std::nullopt;
  std::string address = options_.advertise_address;
  if (address.empty()) {
    std::string host = HostOf(options_.grpc_listen);
    if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::") {
      char name[256] = {};
      gethostname(name, sizeof(name) - 1);
      host = name;
    }
    address = host + ":" + std::to_string(grpc_server_->port());
  }
  const std::string instance = options_.instance_id.empty() ? address : options_.instance_id;
  cluster_view_.SetSelf(instance);
  if (std::optional<int> exit_code =
          WaitForCluster({.brokers = brokers_,
                          .topic = options_.cluster_topic,
                          .group = options_.group,
                          .instance = instance,
                          .address = address,
                          .properties = options_.kafka,
                          .heartbeat_ms = options_.cluster_heartbeat_ms})) {
    return exit_code;
  }
  CRM_LOG(kInfo, kComponent) << "cluster " << options_.cluster_topic << ": instance " << instance
                             << " reached at " << address
                             << "; lookups of other instances' partitions are forwarded";
  if (cluster_token_.empty() && (auth_configured_ || options_.grpc_auth == GrpcAuth::kAll)) {
    CRM_LOG(kWarning, kComponent)
        << "no --cluster-token-file: calls forwarded to another instance carry no "
           "credentials, so "
        << (options_.grpc_auth == GrpcAuth::kAll ? "reads and erasures" : "erasures")
        << " of customers another instance owns are refused there";
  }
  return std::nullopt;
}

std::optional<int> ScoringApp::WaitForCluster(const ClusterTopicOptions& cluster_options) {
  auto created = KafkaCluster::Create(cluster_options, clock_, &cluster_view_, &remote_population_);
  // Brokers down at start: the state on disk is served meanwhile (ingest
  // NOT_SERVING), and the group, the changelog and this topic are joined
  // when they come.
  for (bool waited = false; absl::IsUnavailable(created.status()); waited = true) {
    if (!waited) {
      grpc_server_->SetServing(kIngestHealth, false);
      metrics_->InputConnected(false);
    }
    CRM_LOG(kWarning, kComponent)
        << created.status().message()
        << ": the brokers do not answer; reads are answered from the data dir, ingestion waits; "
           "retrying";
    const timespec no_wait{0, 0};
    if (const int signal = sigtimedwait(&signals_, nullptr, &no_wait);
        signal == SIGTERM || signal == SIGINT) {
      CRM_LOG(kInfo, kComponent) << "stopping before the brokers came";
      grpc_server_->SetServing(false);
      grpc_server_->Shutdown(2000);
      if (absl::Status flushed = store_->Flush(); !flushed.ok()) return Fatal("flush", flushed);
      return 0;
    }
    created = KafkaCluster::Create(cluster_options, clock_, &cluster_view_, &remote_population_);
    if (created.ok()) {
      CRM_LOG(kInfo, kComponent) << "brokers reachable: joining the group";
      grpc_server_->SetServing(kIngestHealth, true);
      metrics_->InputConnected(true);
    }
  }
  if (!created.ok()) return Fatal("cluster", created.status());
  cluster_ = std::move(*created);
  return std::nullopt;
}

std::optional<int> ScoringApp::BuildConsumer() {
  auto consumer = TouchpointConsumer::Create({.brokers = brokers_,
                                              .group = options_.group,
                                              .topic = options_.topic,
                                              .properties = options_.kafka},
                                             store_.get());
  if (!consumer.ok()) return Fatal("Kafka consumer", consumer.status());
  consumer_ = std::move(*consumer);
  consumer_listener_ = std::make_unique<ConsumerListener>(grpc_server_.get());
  partitioner_ = std::make_unique<KafkaKeyPartitioner>(options_.partitioner);
  ingest_loop_ = std::make_unique<IngestLoop>(
      IngestLoopOptions{.topic = options_.topic,
                        .poll_timeout_ms = options_.poll_timeout_ms,
                        .max_batch = options_.max_batch,
                        .look_interval_ms = options_.look_interval_ms,
                        .look_batch = options_.look_batch,
                        .restore_from_changelog = !changelogs_.empty(),
                        .population_publish_ms = options_.cluster_heartbeat_ms},
      consumer_.get(),
      IngestLoopPorts{.processor = lanes_.get(),
                      .probe = metrics_.get(),
                      .clock = &clock_,
                      .listener = consumer_listener_.get(),
                      .erasures = &erasures_,
                      .audit = audit_.get(),
                      .ownership = &ownership_,
                      .cluster = cluster_.get(),
                      .remote_population = &remote_population_,
                      .partitioner = partitioner_.get()});
  return std::nullopt;
}

int ScoringApp::Run() {
  publisher_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "alert-publisher");
    publisher_status_ = publisher_->Run();
    if (!publisher_status_.ok()) kill(getpid(), SIGUSR1);
  });
  consumer_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "consumer");
    consumer_status_ = ingest_loop_->Run();
    kill(getpid(), SIGUSR1);  // wake the main thread whatever the outcome
  });
  return Shutdown(WaitForStop());
}

int ScoringApp::WaitForStop() {
  const timespec poll_interval{2, 0};
  for (;;) {
    const int signal_number = sigtimedwait(&signals_, nullptr, &poll_interval);
    if (signal_number == SIGHUP) {
      reloader_->Reload();
    } else if (signal_number > 0) {
      return signal_number;
    } else {
      reloader_->ReloadIfChanged();
    }
  }
}

int ScoringApp::Shutdown(int signal_number) {
  if (signal_number != SIGUSR1) {
    CRM_LOG(kInfo, kComponent) << "received " << (signal_number == SIGINT ? "SIGINT" : "SIGTERM")
                               << ", stopping";
  }
  // In order: nothing new served, nothing more read, the cluster told, the
  // alerts delivered, the calls in flight answered; the state flushed last.
  grpc_server_->SetServing(false);
  alert_hub_.Close();  // ends WatchAlerts streams before the server waits for them
  if (http_server_) http_server_->Stop();
  ingest_loop_->Stop();
  consumer_thread_.join();
  cluster_.reset();  // gone from the group's view at once
  publisher_->Stop();
  publisher_thread_.join();
  if (!publisher_status_.ok()) return Fatal("alert delivery stopped", publisher_status_);
  grpc_server_->Shutdown(2000);
  if (!consumer_status_.ok()) return Fatal("ingestion stopped", consumer_status_);
  if (absl::Status flushed = store_->Flush(); !flushed.ok()) return Fatal("flush", flushed);
  CRM_LOG(kInfo, kComponent) << "stopped cleanly";
  return 0;
}

}  // namespace

int RunScoringApp(const ServiceOptions& options) {
  InstallLogging(options);
  ScoringApp app(options, BlockSignals());
  if (std::optional<int> exit_code = app.Build()) return *exit_code;
  return app.Run();
}

}  // namespace crm
