#include "services/metrics/prometheus_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/clock.h"

namespace crm {

// The label of `segment` on crm_alerts_total: its name, "-" for none.
std::string SegmentLabel(Segment segment) {
  return segment == Segment::kNone ? "-" : std::string(SegmentName(segment));
}

prometheus::Counter* Counter(prometheus::Registry& r, const char* name, const char* help) {
  return &prometheus::BuildCounter().Name(name).Help(help).Register(r).Add({});
}

prometheus::Gauge* Gauge(prometheus::Registry& r, const char* name, const char* help) {
  return &prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
}

// The registry, refreshed by a hook before each collection.
class PrometheusMetrics::Refreshing final : public prometheus::Collectable {
 public:
  explicit Refreshing(std::shared_ptr<prometheus::Registry> registry)
      : registry_(std::move(registry)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    {
      absl::MutexLock lock(&mutex_);
      if (refresh_) refresh_();
    }
    return registry_->Collect();
  }
  void Set(std::function<void()> refresh) {
    absl::MutexLock lock(&mutex_);
    refresh_ = std::move(refresh);
  }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  mutable absl::Mutex mutex_;
  std::function<void()> refresh_ ABSL_GUARDED_BY(mutex_);
};

PrometheusMetrics::PrometheusMetrics(const Clock& clock)
    : registry_(std::make_shared<prometheus::Registry>()),
      collectable_(std::make_shared<Refreshing>(registry_)) {
  RegisterInput(*registry_);
  RegisterCommits(*registry_);
  RegisterServing(*registry_, clock);
}

void PrometheusMetrics::RegisterInput(prometheus::Registry& r) {
  consumed_ =
      Counter(r, "crm_touchpoints_consumed_total", "Records read from the touchpoint topic");
  auto& applied = prometheus::BuildCounter()
                      .Name("crm_touchpoints_applied_total")
                      .Help("Touchpoints applied to customer state, by type")
                      .Register(r);
  for (int t = 1; t < kTouchpointTypeCount; ++t) {
    applied_[t] =
        &applied.Add({{"type", std::string(TouchpointTypeName(static_cast<TouchpointType>(t)))}});
  }
  duplicates_ = Counter(r, "crm_touchpoints_duplicates_total",
                        "Touchpoints skipped because their event id was already applied");
  erased_skipped_ = Counter(r, "crm_touchpoints_erased_total",
                            "Touchpoints dropped because their customer was erased after they "
                            "occurred (an erasure fence)");
  auto& rejected = prometheus::BuildCounter()
                       .Name("crm_touchpoints_rejected_total")
                       .Help("Records rejected to the dead-letter topic, by reason")
                       .Register(r);
  for (int reason = 0; reason < kRejectReasonCount; ++reason) {
    rejected_[reason] = &rejected.Add(
        {{"reason", std::string(RejectReasonName(static_cast<RejectReason>(reason)))}});
  }
  dead_letter_failures_ =
      Counter(r, "crm_dead_letter_failures_total",
              "Rejected records passed over because not even a minimal dead-letter record "
              "could be produced");
  lag_family_ = &prometheus::BuildGauge()
                     .Name("crm_consumer_lag")
                     .Help("Records of a partition not yet applied and committed")
                     .Register(r);
  input_connected_ =
      Gauge(r, "crm_input_connected",
            "1 while the brokers of the touchpoint topic answer, 0 while they do not");
  input_disconnects_ =
      Counter(r, "crm_input_disconnects_total",
              "Times every broker of the touchpoint topic stopped answering (at start too)");
  alerts_delivered_ =
      Counter(r, "crm_alerts_delivered_total",
              "Alert events (raises and clears) that left the outbox known to be on the "
              "alerts topic (sent by this process, or found there after a restart)");
  input_connected_->Set(1);
}

void PrometheusMetrics::RegisterCommits(prometheus::Registry& r) {
  batch_seconds_ = &prometheus::BuildHistogram()
                        .Name("crm_apply_batch_seconds")
                        .Help("Time from decoding a batch to its durable commit")
                        .Register(r)
                        .Add({}, prometheus::Histogram::BucketBoundaries{
                                     0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                     0.05, 0.1, 0.25, 0.5, 1});
  freshness_bounds_ = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                       0.5,   1,      2.5,   5,    10,    30,   60,  300};
  freshness_ = &prometheus::BuildHistogram()
                    .Name("crm_score_freshness_seconds")
                    .Help(
                        "From a touchpoint's Kafka timestamp to the commit that made its "
                        "scores visible, per record")
                    .Register(r)
                    .Add({}, prometheus::Histogram::BucketBoundaries(freshness_bounds_));
  for (int i = 1; i <= 20; ++i) churn_bounds_.push_back(i / 20.0);
  look_churn_ = &prometheus::BuildHistogram()
                     .Name("crm_look_churn")
                     .Help(
                         "The churn of each look taken (at a touchpoint or when due): the "
                         "distribution of churn, weighted by how often customers are looked at")
                     .Register(r)
                     .Add({}, prometheus::Histogram::BucketBoundaries(churn_bounds_));
  batch_records_ = &prometheus::BuildHistogram()
                        .Name("crm_apply_batch_records")
                        .Help("Records per applied batch")
                        .Register(r)
                        .Add({}, prometheus::Histogram::BucketBoundaries{1, 10, 100, 1000, 5000});
  live_data_bytes_ =
      Gauge(r, "crm_state_live_data_bytes", "Estimated live data in the state store");
  sst_files_bytes_ = Gauge(r, "crm_state_sst_files_bytes", "Size of the state store's table files");
  memtable_bytes_ = Gauge(r, "crm_state_memtable_bytes", "Size of the state store's memtables");
  estimated_keys_ = Gauge(r, "crm_state_estimated_keys", "Estimated keys in the state store");
  restored_records_ = Counter(r, "crm_restore_records_total",
                              "Changelog records read to restore partitions given to this "
                              "instance");
  restoring_ = Gauge(r, "crm_restoring_partitions",
                     "Partitions being restored from their changelog now (their touchpoints "
                     "wait)");
  looks_taken_ = Counter(r, "crm_rescored_total",
                         "Looks at customers taken because the time index said they were due");
  scheduler_backlog_ =
      Gauge(r, "crm_scheduler_backlog", "Looks of the time index due now and not yet taken");
  scheduler_lag_ = Gauge(r, "crm_scheduler_lag_seconds",
                         "How long ago the oldest look of the time index not yet taken was due");
  restore_failures_ = Counter(r, "crm_partition_restore_failures_total",
                              "Partitions left out because their changelog held an unreadable or "
                              "inconsistent record (their customers are answered UNAVAILABLE)");
  storage_full_ = Gauge(r, "crm_storage_full",
                        "1 while state writes fail for want of disk space (ingestion paused, "
                        "reads answered), 0 otherwise");
}

void PrometheusMetrics::RegisterServing(prometheus::Registry& r, const Clock& clock) {
  auto& loads = prometheus::BuildCounter()
                    .Name("crm_model_loads_total")
                    .Help("Model files loaded, or rejected (the model in use stays)")
                    .Register(r);
  model_loaded_ = &loads.Add({{"result", "loaded"}});
  model_rejected_ = &loads.Add({{"result", "rejected"}});
  model_info_family_ =
      &prometheus::BuildGauge().Name("crm_model_info").Help("1 for the model in use").Register(r);
  population_ = Gauge(r, "crm_population_customers", "Buyers the RFM scores are relative to");
  cluster_members_ = Gauge(r, "crm_cluster_members",
                           "Live instances of the group this one knows (itself included)");
  cluster_partitions_ = Gauge(r, "crm_cluster_partitions_claimed",
                              "Input partitions some live instance of the group claims");
  cluster_ignored_ = Counter(r, "crm_cluster_records_ignored_total",
                             "Cluster topic records not trusted: unreadable, naming another "
                             "instance or partition than their key, or out of bounds");
  watchers_ = Gauge(r, "crm_watchers", "WatchAlerts streams open");
  watch_dropped_ = Counter(r, "crm_watch_dropped_total",
                           "Alerts lost by WatchAlerts streams too slow to read them (their "
                           "queue full)");
  // The conventional name: restarts show as its changes.
  Gauge(r, "process_start_time_seconds", "When the process started, seconds since the epoch")
      ->Set(static_cast<double>(ToMicros(clock.Now())) / 1e6);
  alerts_family_ = &prometheus::BuildCounter()
                        .Name("crm_alerts_total")
                        .Help("At-risk alerts raised or cleared, by action and segment")
                        .Register(r);
  // Raised alerts of every action and segment exist from the start at 0, so
  // that a rate over them is 0, not absent, before the first alert.
  for (RecommendedAction action : kRecommendedActions) {
    for (Segment segment : kSegments) {
      if (segment == Segment::kNone) continue;
      alerts_family_->Add({{"transition", "raised"},
                           {"action", std::string(RecommendedActionName(action))},
                           {"segment", SegmentLabel(segment)}});
    }
  }
  open_alerts_total_ = Gauge(r, "crm_alerts_open", "Customers with an open at-risk alert");
  auto& outcomes = prometheus::BuildCounter()
                       .Name("crm_alert_outcomes_total")
                       .Help(
                           "Alerts of the control experiment followed up (alerted), their "
                           "customers contacted and recovered within the outcome window, "
                           "by group (treated, control)")
                       .Register(r);
  auto& revenue = prometheus::BuildCounter()
                      .Name("crm_alert_outcome_revenue_total")
                      .Help("Purchases within the outcome windows of alerts followed up, by group")
                      .Register(r);
  for (auto [group, counters] :
       {std::pair{"treated", &treated_outcomes_}, std::pair{"control", &control_outcomes_}}) {
    counters->alerted = &outcomes.Add({{"group", group}, {"outcome", "alerted"}});
    counters->contacted = &outcomes.Add({{"group", group}, {"outcome", "contacted"}});
    counters->recovered = &outcomes.Add({{"group", group}, {"outcome", "recovered"}});
    counters->revenue = &revenue.Add({{"group", group}});
  }
}

void PrometheusMetrics::FollowedUp(const OutcomeTotals& added) {
  for (auto [group, counters] : {std::pair{&added.treated, &treated_outcomes_},
                                 std::pair{&added.control, &control_outcomes_}}) {
    counters->alerted->Increment(static_cast<double>(group->alerts));
    counters->contacted->Increment(static_cast<double>(group->contacted));
    counters->recovered->Increment(static_cast<double>(group->recovered));
    counters->revenue->Increment(group->revenue);
  }
}

void PrometheusMetrics::ModelLoaded(const std::string& version) {
  absl::MutexLock lock(&model_mutex_);
  model_loaded_->Increment();
  if (model_info_ != nullptr) model_info_family_->Remove(model_info_);
  model_info_ = &model_info_family_->Add({{"version", version}});
  model_info_->Set(1);
}

void PrometheusMetrics::AlertChanged(bool raised, RecommendedAction action, Segment segment) {
  alerts_family_
      ->Add({{"transition", raised ? "raised" : "cleared"},
             {"action", std::string(RecommendedActionName(action))},
             {"segment", SegmentLabel(segment)}})
      .Increment();
}

void PrometheusMetrics::LooksTaken(std::size_t looks) {
  looks_taken_->Increment(static_cast<double>(looks));
}

void PrometheusMetrics::OpenAlerts(std::int32_t partition, std::uint64_t open) {
  absl::MutexLock lock(&open_alerts_mutex_);
  open_alerts_[partition] = open;
  std::uint64_t total = 0;
  for (const auto& [p, n] : open_alerts_) total += n;
  open_alerts_total_->Set(static_cast<double>(total));
}

void PrometheusMetrics::InputConnected(bool connected) {
  input_connected_->Set(connected ? 1 : 0);
  if (connected_.exchange(connected ? 1 : 0) != 0 && !connected) input_disconnects_->Increment();
}

void PrometheusMetrics::AlertDelivered(const AlertEvent&) { alerts_delivered_->Increment(); }

void PrometheusMetrics::RestoreFailed() { restore_failures_->Increment(); }

void PrometheusMetrics::StorageFull(bool full) { storage_full_->Set(full ? 1 : 0); }

void PrometheusMetrics::SetScheduler(std::uint64_t backlog, double lag_seconds) {
  scheduler_backlog_->Set(static_cast<double>(backlog));
  scheduler_lag_->Set(lag_seconds);
}

void PrometheusMetrics::ModelRejected() { model_rejected_->Increment(); }

namespace {

// Brings `counter` up to `total`, a count kept elsewhere since the start.
void Follow(prometheus::Counter& counter, std::uint64_t total) {
  const double more = static_cast<double>(total) - counter.Value();
  if (more > 0) counter.Increment(more);
}

}  // namespace

void PrometheusMetrics::SetWatchers(std::size_t open, std::uint64_t dropped) {
  watchers_->Set(static_cast<double>(open));
  Follow(*watch_dropped_, dropped);
}

void PrometheusMetrics::SetCluster(std::int64_t members, std::int64_t partitions_claimed,
                                   std::uint64_t records_ignored) {
  cluster_members_->Set(static_cast<double>(members));
  cluster_partitions_->Set(static_cast<double>(partitions_claimed));
  Follow(*cluster_ignored_, records_ignored);
}

void PrometheusMetrics::SetPopulation(std::int64_t customers) {
  population_->Set(static_cast<double>(customers));
}

PrometheusMetrics::~PrometheusMetrics() = default;

absl::StatusOr<std::unique_ptr<PrometheusMetrics>> PrometheusMetrics::Start(
    const std::string& listen, const Clock& clock) {
  std::unique_ptr<PrometheusMetrics> metrics(new PrometheusMetrics(clock));
  try {  // civetweb reports a busy port by throwing; convert at the edge
    // A connection that sends nothing is dropped after 2 s, so that a stop
    // never waits on an idle scraper (civetweb's default is 30 s).
    metrics->exposer_ = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
        "listening_ports", listen, "num_threads", "2", "request_timeout_ms", "2000"});
  } catch (const std::exception& e) {
    return absl::UnavailableError("cannot serve metrics on " + listen + ": " + e.what());
  }
  metrics->exposer_->RegisterCollectable(metrics->collectable_);
  return metrics;
}

std::unique_ptr<PrometheusMetrics> PrometheusMetrics::Unserved(const Clock& clock) {
  return std::unique_ptr<PrometheusMetrics>(new PrometheusMetrics(clock));
}

int PrometheusMetrics::port() const {
  if (!exposer_) return 0;
  auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

void PrometheusMetrics::Consumed(std::uint64_t records) {
  consumed_->Increment(static_cast<double>(records));
}
void PrometheusMetrics::Applied(TouchpointType type) {
  applied_[static_cast<std::size_t>(type)]->Increment();
}
void PrometheusMetrics::DuplicateSkipped() { duplicates_->Increment(); }
void PrometheusMetrics::ErasedSkipped() { erased_skipped_->Increment(); }
void PrometheusMetrics::Rejected(RejectReason reason) {
  rejected_[static_cast<std::size_t>(reason)]->Increment();
}
void PrometheusMetrics::BatchCommitted(std::size_t records, Micros latency) {
  batch_seconds_->Observe(static_cast<double>(latency.count()) / 1e6);
  batch_records_->Observe(static_cast<double>(records));
}
namespace {

// Observes `values` into `histogram` (of bucket bounds `bounds`), bucketed
// here: one update of the histogram per batch.
void ObserveAll(prometheus::Histogram& histogram, const std::vector<double>& bounds,
                const std::vector<double>& values) {
  std::vector<double> counts(bounds.size() + 1, 0);
  double sum = 0;
  for (const double value : values) {
    const auto bucket = std::lower_bound(bounds.begin(), bounds.end(), value);
    counts[static_cast<std::size_t>(bucket - bounds.begin())] += 1;
    sum += value;
  }
  histogram.ObserveMultiple(counts, sum);
}

}  // namespace

void PrometheusMetrics::Visible(const std::vector<Micros>& ages) {
  std::vector<double> seconds;
  seconds.reserve(ages.size());
  for (const Micros age : ages) {
    seconds.push_back(std::max(0.0, static_cast<double>(age.count()) / 1e6));
  }
  ObserveAll(*freshness_, freshness_bounds_, seconds);
}

void PrometheusMetrics::DeadLetterFailed(std::uint64_t records) {
  dead_letter_failures_->Increment(static_cast<double>(records));
}

void PrometheusMetrics::RestoreProgress(std::uint64_t records, bool done) {
  restored_records_->Increment(static_cast<double>(records));
  restoring_->Set(done ? 0 : 1);
}

void PrometheusMetrics::Looked(const std::vector<double>& churns) {
  ObserveAll(*look_churn_, churn_bounds_, churns);
}
void PrometheusMetrics::InputLag(std::int32_t partition, std::int64_t records) {
  auto it = lag_.find(partition);
  if (it == lag_.end()) {
    it = lag_.emplace(partition, &lag_family_->Add({{"partition", std::to_string(partition)}}))
             .first;
  }
  it->second->Set(static_cast<double>(records));
}

void PrometheusMetrics::OnScrape(std::function<void()> refresh) {
  collectable_->Set(std::move(refresh));
}

void PrometheusMetrics::SetStorage(std::uint64_t live_data_bytes, std::uint64_t sst_files_bytes,
                                   std::uint64_t memtable_bytes, std::uint64_t estimated_keys) {
  live_data_bytes_->Set(static_cast<double>(live_data_bytes));
  sst_files_bytes_->Set(static_cast<double>(sst_files_bytes));
  memtable_bytes_->Set(static_cast<double>(memtable_bytes));
  estimated_keys_->Set(static_cast<double>(estimated_keys));
}

}  // namespace crm
