#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/ingest_probe.h"
#include "core/ingest_processor.h"
#include "core/partition_ownership.h"
#include "core/state_store.h"
#include "services/kafka/cluster_topic.h"
#include "services/kafka/kafka_config.h"

namespace RdKafka {
class KafkaConsumer;
class Message;
}  // namespace RdKafka

namespace crm {

struct ConsumerOptions {
  std::string brokers;                    // bootstrap.servers; required
  std::string group = "crm-scored";       // group.id
  std::string topic = "crm.touchpoints";  // input
  KafkaProperties properties;             // any librdkafka property; applied last, so it wins
  int poll_timeout_ms = 100;              // longest wait for the first record of a batch
  std::size_t max_batch = 5000;           // records per commit at most
  // Customers due in the time index are re-scored between batches, this often
  // at most, this many per commit (see IngestProcessor::RescoreDue). While a
  // backlog of looks lasts, a round runs between every two poll batches: a
  // small round (about a millisecond) keeps touchpoints fresh meanwhile.
  int rescore_interval_ms = 100;
  std::size_t rescore_batch = 100;
  // Each partition given to this instance is first restored from its
  // changelog (IngestProcessor::RestorePartition), its records read after.
  bool restore_from_changelog = false;
  // How the producers place a customer's touchpoints (IsKafkaPartitioner):
  // each record is checked against it, as routing relies on it.
  std::string partitioner = "consistent_random";
  // How often each owned partition's population histograms are published
  // to the cluster (with one).
  int population_publish_ms = 2000;
  // While the disk is full, how often the commit that found it full is tried
  // again (its records read again from the stored offsets).
  int storage_retry_ms = 2000;
};

// What the consumer thread serves besides the input, and whom it tells of
// the broker coming and going; every member may be empty.
struct ConsumerHooks {
  // Erasure requests, carried out between batches, recorded in `audit` first.
  ErasureQueue* erasures = nullptr;
  AuditLog* audit = nullptr;
  // Called on the consumer thread when ingestion stops (false: the brokers
  // are unreachable, or the disk is full) or goes on again (true).
  std::function<void(bool)> ingesting;
  // Told which partitions are being restored from their changelogs.
  PartitionOwnership* restoring = nullptr;
  // Scale-out: told the partitions owned after each rebalance (restored by
  // then), given each owned partition's population every
  // population_publish_ms, and asked for the others' between batches.
  KafkaCluster* cluster = nullptr;
  RemotePopulationInbox* remote_population = nullptr;
};

// The consumer-group member that feeds the IngestProcessor. A batch is what
// one poll returned (up to max_batch); each is applied and committed with its
// offsets before the next. On every assignment, each partition resumes from
// the offset committed in the StateStore (its beginning when none), not from
// Kafka's committed offsets, which are written afterwards for lag monitoring
// only. A rebalance discards the uncommitted records read so far: they are
// read again from the stored offsets.
//
// Run() on one thread (the consumer thread); Stop() from any thread.
class TouchpointConsumer {
 public:
  // The pointers must outlive the consumer. Fails on bad Kafka properties.
  static absl::StatusOr<std::unique_ptr<TouchpointConsumer>> Create(const ConsumerOptions& options,
                                                                    IngestProcessor* processor,
                                                                    StateStore* store,
                                                                    IngestProbe* probe,
                                                                    ConsumerHooks hooks = {});
  ~TouchpointConsumer();

  // Consumes until Stop() (returns OK after leaving the group) or a fatal
  // error (a storage failure, a fatal Kafka error), returned as is; nothing
  // past the last committed batch is then considered done. Brokers going
  // away are waited out: consumption resumes from the stored offsets when
  // they come back. So is a full disk (a commit failing with
  // IsStorageFull): ingestion pauses, and every storage_retry_ms the records
  // not committed are read again from the stored offsets and their commit
  // tried again, until one succeeds.
  absl::Status Run();
  void Stop() { stop_.store(true); }

 private:
  class Callbacks;
  TouchpointConsumer() = default;
  void ReportLag();
  // Shares the owned partitions' population, takes the others'.
  void SharePopulation(bool publish);
  // Whether a record's partition is the one the partitioner gives its key.
  void CheckPartitioner(const InputRecord& record, std::int32_t partition_count);
  // The age of each record of a batch just committed, from its Kafka timestamp.
  void ReportFreshness(const std::vector<std::unique_ptr<RdKafka::Message>>& messages);
  // The input topic's partition count, from the brokers (0: not known).
  std::int32_t PartitionCount(RdKafka::KafkaConsumer* consumer);
  // Whether the brokers answer a metadata request within `timeout_ms`.
  bool BrokersAnswer(int timeout_ms);
  void SetConnected(bool connected);
  // Enters (true) or leaves (false) the pause for a full disk.
  void SetStorageFull(bool full);
  // Tells the ingesting hook whether ingestion goes on, when that changed.
  void ReportIngesting();
  // Moves every assigned partition back to its stored offset: the records
  // read past it are read again.
  void Rewind();
  // Restores `partition` from its changelog, with progress in the log and metrics.
  absl::Status Restore(std::int32_t partition);
  // `partition` could not be restored (`why`): counted, logged, and its
  // customers answered UNAVAILABLE until its next assignment.
  void RestoreFailed(std::int32_t partition, const absl::Status& why);
  // Starts a new second of rejection logging, logging how many went unlogged.
  void RollRejectLog();

  ConsumerOptions options_;
  IngestProcessor* processor_ = nullptr;
  StateStore* store_ = nullptr;
  IngestProbe* probe_ = nullptr;
  ConsumerHooks hooks_;
  bool connected_ = true;  // consumer thread only
  bool ingesting_ = true;  // as last told to hooks_.ingesting; consumer thread only
  // Paused for a full disk, and when the failed commit is tried again.
  bool storage_full_ = false;
  std::chrono::steady_clock::time_point storage_retry_{};
  // Rejections logged in the current second, and those left out of the log.
  std::chrono::steady_clock::time_point reject_window_{};
  int rejects_logged_ = 0;
  bool partitioner_warned_ = false;
  // Population versions last published, by partition, and when all were.
  std::map<std::int32_t, std::uint64_t> population_published_;
  std::chrono::steady_clock::time_point population_refreshed_{};
  std::set<std::int32_t> population_owned_;
  std::uint64_t rejects_unlogged_ = 0;
  std::unique_ptr<Callbacks> callbacks_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::atomic<bool> stop_{false};
};

}  // namespace crm
