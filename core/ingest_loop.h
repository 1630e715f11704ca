// The consumer thread's schedule: what runs between two polls of the input.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/clock.h"
#include "core/erasure.h"
#include "core/ingest.h"
#include "core/ingest_probe.h"
#include "core/input_topic.h"
#include "core/partition_ownership.h"
#include "core/population.h"
#include "core/touchpoint_source.h"

namespace crm {

// Scale-out: where this instance tells the group which partitions it owns
// and shares its partitions' population. Called from the loop's thread.
class PopulationExchange {
 public:
  virtual ~PopulationExchange() = default;
  // This instance's partitions now (after an assignment, once restored).
  virtual void Claim(std::set<std::int32_t> partitions, std::int32_t partition_count) = 0;
  virtual void PublishPopulation(std::int32_t partition,
                                 const std::vector<PopulationCell>& cells) = 0;
};

// How the producers place a key on the input's partitions.
class KeyPartitioner {
 public:
  virtual ~KeyPartitioner() = default;
  // The partition of `count` that `key` belongs to.
  virtual std::int32_t PartitionOf(std::string_view key, std::int32_t count) const = 0;
  // Its name, as the operator configured it (for the log).
  virtual std::string_view name() const = 0;
};

// Whom the loop tells what an operator should know. Called from the loop's
// thread.
class IngestListener {
 public:
  enum class Severity { kInfo, kWarning, kError };
  virtual ~IngestListener() = default;
  // Ingestion stopped (false: the brokers are unreachable, or the disk is
  // full) or goes on again (true); called on a change only.
  virtual void IngestingChanged(bool ingesting) = 0;
  // One line of the log, about the input.
  virtual void Log(Severity severity, std::string_view message) = 0;
};

struct IngestLoopOptions {
  std::string topic{kDefaultTouchpointTopic};  // the input's name, in the log
  int poll_timeout_ms = 100;                   // longest wait for the first record of a batch
  std::size_t max_batch = 5000;                // records per commit at most
  // Looks due on the wall clock are taken between batches, in rounds this
  // often at most, of this many at most (see IngestProcessor::TakeDueLooks).
  // While a backlog of looks lasts, a round runs between every two polls: a
  // small round (about a millisecond) keeps touchpoints fresh meanwhile.
  int look_interval_ms = 100;
  std::size_t look_batch = 100;
  // Each partition given to this instance is first restored from its
  // changelog (IngestProcessor::RestorePartition), its records read after.
  bool restore_from_changelog = false;
  // How often each owned partition's population histograms are published
  // (with a PopulationExchange).
  int population_publish_ms = 2000;
  // While the disk is full, how often the commit that found it full is tried
  // again (its records read again from the stored offsets).
  int storage_retry_ms = 2000;
};

// The collaborators of the loop. Required: processor, probe, clock, listener.
// The others may be null: erasures (with audit) are then not served, and
// without ownership nothing is told of partitions, cluster nor partitioner.
struct IngestLoopPorts {
  Ingest* processor = nullptr;  // an IngestProcessor, or IngestLanes
  IngestProbe* probe = nullptr;
  const Clock* clock = nullptr;  // "now" for every interval and age
  IngestListener* listener = nullptr;
  ErasureQueue* erasures = nullptr;
  AuditLog* audit = nullptr;
  PartitionOwnership* ownership = nullptr;
  PopulationExchange* cluster = nullptr;
  RemotePopulationInbox* remote_population = nullptr;
  const KeyPartitioner* partitioner = nullptr;  // each record checked against it
};

// Runs the consumer thread: polls the source and applies each batch through
// the processor, which commits it while the next is polled (Ingest::Start),
// finished before that one starts; between batches it
// takes the erasures requested, the looks due (look rounds), the others'
// population and publishes this instance's, and waits out brokers that went
// away and a disk that is full. On each rebalance (AssignmentListener) it
// restores the partitions given from their changelogs and tells the
// ownership, the cluster and the processor.
//
// Run() on one thread (the consumer thread); Stop() from any thread.
class IngestLoop final : public AssignmentListener {
 public:
  // The source and every port must outlive the loop.
  IngestLoop(IngestLoopOptions options, TouchpointSource* source, IngestLoopPorts ports);

  // Consumes until Stop() (returns OK after closing the source) or a fatal
  // error (a storage failure, a fatal source error), returned as is; nothing
  // past the last committed batch is then considered done. Brokers going
  // away are waited out: consumption resumes from the stored offsets when
  // they come back. So is a full disk (a commit failing with IsStorageFull):
  // ingestion pauses, and every storage_retry_ms the records not committed
  // are read again from the stored offsets and their commit tried again,
  // until one succeeds.
  absl::Status Run();
  void Stop() { stop_.store(true); }

  // AssignmentListener, called by the source from inside Poll.
  absl::StatusOr<std::set<std::int32_t>> Prepare(const std::vector<std::int32_t>& given) override;
  absl::Status Apply(const AssignmentEvent& event) override;

 private:
  class Line;
  // One turn: what runs before a poll, the poll, and the batch's commit.
  // Returns false when the loop must end (`result` says why).
  bool Turn(SourceBatch& batch, absl::Status& result);
  // Before the poll: the pause for a full disk, the population, erasures,
  // connectivity and a look round. False: skip the poll this turn.
  // Sets `looks_waiting` when more looks are due than a round took.
  bool BeforePoll(bool& looks_waiting, absl::Status& result);
  absl::Status TakeErasures();
  // A look round when due; false: skip the poll this turn.
  bool LookRound(bool& looks_waiting, absl::Status& result);
  // Whether something before the poll is due (BeforePoll's), so that the
  // batch applied meanwhile must be finished first.
  bool BeforePollDue() const;
  // Hands a batch polled to the processor (Ingest::Start), keeping it.
  void StartBatch(SourceBatch& batch);
  // Finishes the batch the processor applies, if any; false: it failed,
  // skip the rest of the turn (`result` set when the failure is fatal).
  bool Settle(absl::Status& result);
  // Settle, from inside a rebalance (Prepare, Apply): only a fatal error.
  absl::Status SettleBeforeRebalance();
  void LogRejections(const std::vector<InputRecord>& records, const BatchResult& processed);
  void CommitOffsets(const std::vector<InputRecord>& records);
  void ReportLagWhenDue();
  void ReportFreshness(const std::vector<Timestamp>& produced_at);
  // Shares the owned partitions' population, takes the others'.
  void SharePopulation(bool publish);
  // Whether a record's partition is the one the partitioner gives its key.
  void CheckPartitioner(const InputRecord& record, std::int32_t partition_count);
  void SetConnected(bool connected);
  // Enters (true) or leaves (false) the pause for a full disk.
  void SetStorageFull(bool full);
  // Tells the listener whether ingestion goes on, when that changed.
  void ReportIngesting();
  // Restores `partition` from its changelog, with progress in the log and metrics.
  absl::Status Restore(std::int32_t partition);
  // `partition` could not be restored (`why`): counted, logged, and its
  // customers answered UNAVAILABLE until its next assignment.
  void RestoreFailed(std::int32_t partition, const absl::Status& why);
  // Starts a new second of rejection logging, logging how many went unlogged.
  void RollRejectLog();
  // Whether more than `interval` passed since `last` (or the clock went back).
  bool Elapsed(Timestamp last, Micros interval) const;

  const IngestLoopOptions options_;
  TouchpointSource* const source_;
  const IngestLoopPorts ports_;
  std::atomic<bool> stop_{false};
  // Everything below: the loop's thread only.
  // The batch the processor applies while the next is polled, if applying_.
  SourceBatch applied_;
  bool applying_ = false;
  bool connected_ = true;
  bool ingesting_ = true;  // as last told to the listener
  // Paused for a full disk, and when the failed commit is tried again.
  bool storage_full_ = false;
  Timestamp storage_retry_{};
  // When each periodic task last ran.
  Timestamp last_lag_report_{}, last_look_round_{}, last_probe_{}, last_population_{};
  // Rejections logged in the current second, and those left out of the log.
  Timestamp reject_window_{};
  int rejects_logged_ = 0;
  std::uint64_t rejects_unlogged_ = 0;
  bool partitioner_warned_ = false;
  // Population versions last published, by partition, and when all were.
  std::map<std::int32_t, std::uint64_t> population_published_;
  Timestamp population_refreshed_{};
  std::set<std::int32_t> population_owned_;
  // The input's partitions assigned now, those of them whose restore failed
  // (not consumed), and the partition count as last learnt.
  std::set<std::int32_t> assigned_;
  std::set<std::int32_t> failed_;
  std::int32_t partition_count_ = 0;
};

}  // namespace crm
