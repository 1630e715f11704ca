#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/alert_event.h"
#include "core/clock.h"
#include "core/ingest_probe.h"

namespace prometheus {
class Exposer;
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace crm {

// Every metric the service exports, on one registry served at /metrics.
//
//   crm_touchpoints_consumed_total              records read from the input topic
//   crm_touchpoints_applied_total{type}         touchpoints applied to state
//   crm_touchpoints_duplicates_total            skipped: event id already applied
//   crm_touchpoints_erased_total                dropped: their customer erased after they occurred
//   crm_touchpoints_rejected_total{reason}      rejected to the dead-letter topic
//   crm_dead_letter_failures_total              rejected, and passed over without a dead-letter
//   record crm_consumer_lag{partition}                 records not yet committed
//   crm_apply_batch_seconds                     batch decode → durable commit
//   crm_apply_batch_records                     records per batch
//   crm_score_freshness_seconds                 a record's Kafka timestamp → its commit
//   crm_look_churn                              the churn of each look taken
//   crm_state_{live_data,sst_files,memtable}_bytes, crm_state_estimated_keys
//   crm_alerts_total{transition,action,segment} alerts raised / cleared
//   crm_alert_outcomes_total{group,outcome}     alerts followed up / contacted / recovered
//   crm_alert_outcome_revenue_total{group}      revenue within the alerts' outcome windows
//   crm_rescored_total                          looks taken from the time index
//   crm_alerts_open                             customers with an open alert
//   crm_scheduler_backlog                       looks due now and not yet taken
//   crm_scheduler_lag_seconds                   how late the oldest of them is
//   crm_input_connected                         1 while the input's brokers answer
//   crm_input_disconnects_total                 times every broker of the input stopped answering
//   crm_alerts_delivered_total                  alerts out of the outbox, known on the alerts topic
//   crm_storage_full                            1 while writes fail for want of space
//   crm_partition_restore_failures_total        partitions whose changelog could not be restored
//   crm_model_loads_total{result}               model files loaded / rejected
//   crm_model_info{version}                     1 for the model in use
//   crm_population_customers                    buyers the RFM scores rank against
//   crm_cluster_members                         live instances of the group this one knows
//   crm_cluster_partitions_claimed              input partitions some live instance claims
//   crm_cluster_records_ignored_total           cluster topic records not trusted (forged, bad)
//   crm_watchers                                WatchAlerts streams open
//   crm_watch_dropped_total                     alerts a stream too slow to read lost
//   process_start_time_seconds                  when the process started (restarts)
//
// The IngestProbe methods are called from the consumer thread; SetStorage from
// any thread; scraping happens on the exposer's threads.
class PrometheusMetrics final : public IngestProbe, public AlertDeliveryListener {
 public:
  // Starts serving /metrics on `listen` ("HOST:PORT"; port 0 picks one);
  // `clock` says when the process started.
  static absl::StatusOr<std::unique_ptr<PrometheusMetrics>> Start(const std::string& listen,
                                                                  const Clock& clock);
  // Metrics without an HTTP endpoint (tests, tools).
  static std::unique_ptr<PrometheusMetrics> Unserved(const Clock& clock);
  ~PrometheusMetrics() override;

  // The bound port, 0 when unserved.
  int port() const;

  void Consumed(std::uint64_t records) override;
  void Applied(TouchpointType type) override;
  void DuplicateSkipped() override;
  void ErasedSkipped() override;
  void Rejected(RejectReason reason) override;
  void DeadLetterFailed(std::uint64_t records) override;
  void BatchCommitted(std::size_t records, Micros latency) override;
  void Visible(const std::vector<Micros>& ages) override;
  void Looked(const std::vector<double>& churns) override;
  void RestoreProgress(std::uint64_t records, bool done) override;
  void InputLag(std::int32_t partition, std::int64_t records) override;
  void AlertChanged(bool raised, RecommendedAction action, Segment segment) override;
  void FollowedUp(const OutcomeTotals& added) override;
  void LooksTaken(std::size_t looks) override;
  void OpenAlerts(std::int32_t partition, std::uint64_t open) override;
  void InputConnected(bool connected) override;
  void RestoreFailed() override;
  void StorageFull(bool full) override;
  // From the alert publisher's thread.
  void AlertDelivered(const AlertEvent& alert) override;

  void SetStorage(std::uint64_t live_data_bytes, std::uint64_t sst_files_bytes,
                  std::uint64_t memtable_bytes, std::uint64_t estimated_keys);
  // A model file was loaded (and is now in use) or rejected. Thread-safe.
  void ModelLoaded(const std::string& version);
  void ModelRejected();
  void SetPopulation(std::int64_t customers);
  // `records_ignored`: how many the cluster topic's reader has not trusted
  // since the start (the counter follows it).
  void SetCluster(std::int64_t members, std::int64_t partitions_claimed,
                  std::uint64_t records_ignored);
  // WatchAlerts streams open, and the alerts they lost since the start (the
  // counter follows it).
  void SetWatchers(std::size_t open, std::uint64_t dropped);
  // The time index as of a scrape: looks due and not taken, and the age of the oldest.
  void SetScheduler(std::uint64_t backlog, double lag_seconds);

  // Runs `refresh` at the start of every scrape (e.g. to call SetStorage). Thread-safe.
  void OnScrape(std::function<void()> refresh);

  prometheus::Registry& registry() { return *registry_; }

 private:
  class Refreshing;
  explicit PrometheusMetrics(const Clock& clock);
  // The metrics of the input (the touchpoint topic, rejections), of the
  // commits (batches, looks, restores, the state store) and of serving
  // (model, population, cluster, watchers, alerts): registered in `r`.
  void RegisterInput(prometheus::Registry& r);
  void RegisterCommits(prometheus::Registry& r);
  void RegisterServing(prometheus::Registry& r, const Clock& clock);
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<Refreshing> collectable_;
  std::unique_ptr<prometheus::Exposer> exposer_;

  prometheus::Counter* consumed_;
  std::array<prometheus::Counter*, kTouchpointTypeCount> applied_{};
  prometheus::Counter* duplicates_;
  prometheus::Counter* erased_skipped_;
  std::array<prometheus::Counter*, kRejectReasonCount> rejected_{};
  prometheus::Counter* dead_letter_failures_;
  prometheus::Family<prometheus::Gauge>* lag_family_;
  std::map<std::int32_t, prometheus::Gauge*> lag_;  // consumer thread only
  prometheus::Histogram* batch_seconds_;
  prometheus::Histogram* batch_records_;
  prometheus::Histogram* freshness_;
  std::vector<double> freshness_bounds_;
  prometheus::Histogram* look_churn_;
  std::vector<double> churn_bounds_;
  prometheus::Gauge* live_data_bytes_;
  prometheus::Gauge* sst_files_bytes_;
  prometheus::Gauge* memtable_bytes_;
  prometheus::Gauge* estimated_keys_;
  prometheus::Counter* model_loaded_;
  prometheus::Counter* model_rejected_;
  prometheus::Family<prometheus::Gauge>* model_info_family_;
  absl::Mutex model_mutex_;
  prometheus::Gauge* model_info_ ABSL_GUARDED_BY(model_mutex_) = nullptr;
  prometheus::Gauge* population_;
  prometheus::Gauge* cluster_members_;
  prometheus::Gauge* cluster_partitions_;
  prometheus::Counter* cluster_ignored_;
  prometheus::Gauge* watchers_;
  prometheus::Counter* watch_dropped_;
  prometheus::Family<prometheus::Counter>* alerts_family_;
  // By group (treated, control): alerted, contacted, recovered; revenue.
  struct OutcomeCounters {
    prometheus::Counter* alerted;
    prometheus::Counter* contacted;
    prometheus::Counter* recovered;
    prometheus::Counter* revenue;
  };
  OutcomeCounters treated_outcomes_{}, control_outcomes_{};
  prometheus::Counter* looks_taken_;
  // Told by every lane of the ingest, each from its thread.
  absl::Mutex open_alerts_mutex_;
  std::map<std::int32_t, std::uint64_t> open_alerts_ ABSL_GUARDED_BY(open_alerts_mutex_);
  prometheus::Gauge* open_alerts_total_;
  prometheus::Gauge* scheduler_backlog_;
  prometheus::Gauge* scheduler_lag_;
  prometheus::Gauge* input_connected_;
  prometheus::Counter* input_disconnects_;
  std::atomic<int> connected_{-1};  // -1: not known yet; the consumer and app threads
  prometheus::Counter* alerts_delivered_;
  prometheus::Counter* restored_records_;
  prometheus::Gauge* restoring_;
  prometheus::Counter* restore_failures_;
  prometheus::Gauge* storage_full_;
};

}  // namespace crm
