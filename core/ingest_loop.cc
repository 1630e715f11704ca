#include "core/ingest_loop.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

namespace crm {
namespace {

using namespace std::chrono_literals;

constexpr int kRejectsLoggedPerSecond = 20;

Micros Milliseconds(int ms) { return std::chrono::milliseconds(ms); }

}  // namespace

// One line for the listener's log, built with operator<< and written when
// the object dies.
class IngestLoop::Line {
 public:
  Line(IngestListener* listener, IngestListener::Severity severity)
      : listener_(listener), severity_(severity) {}
  ~Line() { listener_->Log(severity_, stream_.str()); }
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;
  template <typename T>
  Line& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  IngestListener* listener_;
  IngestListener::Severity severity_;
  std::ostringstream stream_;
};

IngestLoop::IngestLoop(IngestLoopOptions options, TouchpointSource* source, IngestLoopPorts ports)
    : options_(std::move(options)), source_(source), ports_(ports) {}

bool IngestLoop::Elapsed(Timestamp last, Micros interval) const {
  const Timestamp now = ports_.clock->Now();
  return now - last > interval || now < last;
}

absl::Status IngestLoop::Run() {
  if (absl::Status started = source_->Start(this); !started.ok()) return started;
  const Timestamp now = ports_.clock->Now();
  last_lag_report_ = last_look_round_ = last_probe_ = last_population_ = now;
  absl::Status result;
  SourceBatch batch;
  while (!stop_.load() && Turn(batch, result)) {
  }
  absl::Status settled;
  Settle(settled);
  if (result.ok()) result = settled;
  batch = {};  // the source's bytes go back before it closes
  applied_ = {};
  source_->Close();
  return result;
}

bool IngestLoop::Turn(SourceBatch& batch, absl::Status& result) {
  RollRejectLog();
  bool looks_waiting = false;
  // What runs before a poll works on the processor: the batch it applies
  // meanwhile is finished first, when something is due.
  if (applying_ && BeforePollDue() && !Settle(result)) return result.ok();
  if (!applying_ && !BeforePoll(looks_waiting, result)) return result.ok();
  // While a batch is applied, only what is already fetched: its freshness
  // is told when it is finished.
  const int timeout_ms = looks_waiting || applying_ ? 0 : options_.poll_timeout_ms;
  absl::Status polled = source_->Poll(timeout_ms, options_.max_batch, batch);
  if (batch.disconnected) SetConnected(false);
  if (!polled.ok()) {
    result = polled;
    return false;
  }
  // One batch applied at a time. If it failed for a full disk, the batch
  // just polled is left (read again at the retry, from the stored offsets).
  if (!Settle(result)) return result.ok();
  if (batch.records.empty()) {
    ports_.processor->Idle();
  } else {
    StartBatch(batch);
  }
  ReportLagWhenDue();
  return true;
}

bool IngestLoop::BeforePollDue() const {
  return storage_full_ || !connected_ ||
         Elapsed(last_look_round_, Milliseconds(options_.look_interval_ms)) ||
         Elapsed(last_population_, Milliseconds(options_.population_publish_ms));
}

bool IngestLoop::BeforePoll(bool& looks_waiting, absl::Status& result) {
  if (storage_full_) {
    // Paused for a full disk: the failed commit's records are read again
    // from the stored offsets when its retry is due.
    const Timestamp now = ports_.clock->Now();
    if (now < storage_retry_) {
      std::this_thread::sleep_for(std::min<Micros>(storage_retry_ - now, 100ms));
      return false;
    }
    storage_retry_ = now + Milliseconds(options_.storage_retry_ms);
    source_->Rewind();
  }
  {
    const bool publish = Elapsed(last_population_, Milliseconds(options_.population_publish_ms));
    if (publish) last_population_ = ports_.clock->Now();
    SharePopulation(publish);
  }
  // Erasures and looks run on this thread: the single writer of customer
  // state.
  if (absl::Status erased = TakeErasures(); !erased.ok()) {
    result = erased;
    return false;
  }
  // Brokers all down: paused until one answers again (checked each second).
  if (source_->TakeBrokersDown()) SetConnected(false);
  if (!connected_ && Elapsed(last_probe_, 1s)) {
    last_probe_ = ports_.clock->Now();
    if (source_->BrokersAnswer(500)) SetConnected(true);
  }
  return LookRound(looks_waiting, result);
}

absl::Status IngestLoop::TakeErasures() {
  if (ports_.erasures == nullptr || ports_.audit == nullptr) return absl::OkStatus();
  absl::Status erased = ports_.processor->TakeErasures(*ports_.erasures, *ports_.audit);
  if (IsStorageFull(erased)) {
    SetStorageFull(true);  // the erasure was answered with the error
    return absl::OkStatus();
  }
  return erased;
}

bool IngestLoop::LookRound(bool& looks_waiting, absl::Status& result) {
  // Not while the brokers are away: with the changelog, a commit waits for
  // them (the looks are taken once they are back).
  if (!connected_ || !Elapsed(last_look_round_, Milliseconds(options_.look_interval_ms))) {
    return true;
  }
  auto looks_taken = ports_.processor->TakeDueLooks(options_.look_batch);
  if (IsStorageFull(looks_taken.status())) {
    SetStorageFull(true);
    return false;
  }
  if (!looks_taken.ok()) {
    result = looks_taken.status();
    return false;
  }
  if (looks_taken->looks_taken > 0) SetStorageFull(false);
  // A full batch: more may be due; look again after this poll, which then
  // takes only what is already fetched.
  looks_waiting = looks_taken->looks_taken >= options_.look_batch;
  if (!looks_waiting) last_look_round_ = ports_.clock->Now();
  return true;
}

void IngestLoop::StartBatch(SourceBatch& batch) {
  SetConnected(true);  // records came: the brokers answer
  const std::int32_t partition_count =
      ports_.ownership != nullptr ? ports_.ownership->PartitionCount() : 0;
  for (const InputRecord& record : batch.records) CheckPartitioner(record, partition_count);
  // The batch stays whole, bytes and all, while the processor applies it.
  std::swap(batch, applied_);
  applying_ = true;
  ports_.processor->Start(applied_.records);
}

bool IngestLoop::Settle(absl::Status& result) {
  if (!applying_) return true;
  applying_ = false;
  auto processed = ports_.processor->Finish();
  if (IsStorageFull(processed.status())) {
    // Nothing of the part that failed counts: its records are read again at
    // the retry (Rewind), which tells when space is back.
    SetStorageFull(true);
    return false;
  }
  if (!processed.ok()) {
    result = processed.status();
    return false;
  }
  SetStorageFull(false);
  ReportFreshness(applied_.produced_at);
  LogRejections(applied_.records, *processed);
  CommitOffsets(applied_.records);
  return true;
}

void IngestLoop::LogRejections(const std::vector<InputRecord>& records,
                               const BatchResult& processed) {
  // Each rejection is counted and on the dead-letter topic; the log gets the
  // first ones of each second and a count of the others.
  RollRejectLog();
  for (const RejectedRecord& rejected : processed.rejected) {
    if (rejects_logged_ >= kRejectsLoggedPerSecond) {
      ++rejects_unlogged_;
      continue;
    }
    ++rejects_logged_;
    const InputRecord& record = records[rejected.index];
    Line(ports_.listener, IngestListener::Severity::kWarning)
        << "rejected " << options_.topic << "[" << record.partition << "]@" << record.offset << " ("
        << RejectReasonName(rejected.rejection.reason) << "): " << rejected.rejection.detail();
  }
}

void IngestLoop::CommitOffsets(const std::vector<InputRecord>& records) {
  // The source's own committed offsets serve lag monitoring only.
  std::map<std::int32_t, std::int64_t> next_offsets;
  for (const InputRecord& record : records) {
    std::int64_t& next = next_offsets[record.partition];
    next = std::max(next, record.offset + 1);
  }
  source_->Commit(next_offsets);
  if (ports_.ownership != nullptr) {
    const Timestamp now = ports_.clock->Now();
    for (const auto& [partition, next] : next_offsets) ports_.ownership->Committed(partition, now);
  }
}

void IngestLoop::ReportLagWhenDue() {
  if (!Elapsed(last_lag_report_, 1s)) return;
  for (const PartitionLag& lag : source_->Lag()) {
    ports_.probe->InputLag(lag.partition, lag.records);
    if (ports_.ownership != nullptr) ports_.ownership->SetLag(lag.partition, lag.records);
  }
  last_lag_report_ = ports_.clock->Now();
}

void IngestLoop::ReportFreshness(const std::vector<Timestamp>& produced_at) {
  // In whole milliseconds, as the brokers stamp records.
  const auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(ports_.clock->Now().time_since_epoch());
  std::vector<Micros> ages;
  ages.reserve(produced_at.size());
  for (const Timestamp at : produced_at) {
    ages.push_back(now_ms -
                   std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()));
  }
  if (!ages.empty()) ports_.probe->Visible(ages);
}

void IngestLoop::SharePopulation(bool publish) {
  if (ports_.remote_population != nullptr) {
    ports_.processor->TakeRemotePopulation(*ports_.remote_population);
  }
  if (!publish || ports_.cluster == nullptr || ports_.ownership == nullptr) return;
  const std::optional<std::set<std::int32_t>> owned = ports_.ownership->Owned().first;
  if (!owned) return;
  // The partitions whose histograms changed since their last publication;
  // every one now and then (a reader may have lost an old record), and all
  // after a new assignment (another may have published ours meanwhile).
  const Timestamp now = ports_.clock->Now();
  const bool all = Elapsed(population_refreshed_, 30s) || *owned != population_owned_;
  population_owned_ = *owned;
  if (all) population_refreshed_ = now;
  for (std::int32_t partition : *owned) {
    const std::uint64_t version = ports_.processor->PopulationVersion(partition);
    auto published = population_published_.find(partition);
    if (!all && published != population_published_.end() && published->second == version) {
      continue;
    }
    ports_.cluster->PublishPopulation(partition, ports_.processor->PopulationCells(partition));
    population_published_[partition] = version;
  }
  std::erase_if(population_published_,
                [&](const auto& entry) { return !owned->contains(entry.first); });
}

void IngestLoop::CheckPartitioner(const InputRecord& record, std::int32_t partition_count) {
  if (ports_.partitioner == nullptr || ports_.ownership == nullptr) return;
  if (partition_count <= 0 || record.key.empty() || partitioner_warned_) return;
  const std::int32_t expected = ports_.partitioner->PartitionOf(record.key, partition_count);
  if (expected == record.partition) return;
  partitioner_warned_ = true;
  ports_.ownership->SetPartitionerMismatch();
  Line(ports_.listener, IngestListener::Severity::kWarning)
      << "the key of " << options_.topic << "[" << record.partition << "]@" << record.offset
      << " belongs to partition " << expected << " by --partitioner " << ports_.partitioner->name()
      << ": the producers use another partitioner; an unknown customer is answered UNAVAILABLE, "
         "not NOT_FOUND, until this instance owns every partition";
}

void IngestLoop::SetConnected(bool connected) {
  if (connected == connected_) return;
  connected_ = connected;
  if (connected) {
    Line(ports_.listener, IngestListener::Severity::kInfo) << "brokers reachable again: consuming";
  } else {
    Line(ports_.listener, IngestListener::Severity::kWarning)
        << "brokers unreachable: ingest paused, queries answered from the state";
  }
  ports_.probe->InputConnected(connected);
  ReportIngesting();
}

void IngestLoop::SetStorageFull(bool full) {
  if (full == storage_full_) return;
  storage_full_ = full;
  if (full) {
    storage_retry_ = ports_.clock->Now() + Milliseconds(options_.storage_retry_ms);
    Line(ports_.listener, IngestListener::Severity::kError)
        << "the disk is full: ingestion paused, queries answered from the state; the commit is "
           "tried again every "
        << options_.storage_retry_ms << " ms until space returns";
  } else {
    Line(ports_.listener, IngestListener::Severity::kInfo)
        << "space again: the commit succeeded, ingestion resumed";
  }
  ports_.probe->StorageFull(full);
  ReportIngesting();
}

void IngestLoop::ReportIngesting() {
  const bool ingesting = connected_ && !storage_full_;
  if (ingesting == ingesting_) return;
  ingesting_ = ingesting;
  ports_.listener->IngestingChanged(ingesting);
}

void IngestLoop::RollRejectLog() {
  const Timestamp now = ports_.clock->Now();
  if (now - reject_window_ < 1s && now >= reject_window_) return;
  if (rejects_unlogged_ > 0) {
    Line(ports_.listener, IngestListener::Severity::kWarning)
        << "rejected " << rejects_unlogged_
        << " more records in the last second (not logged one by one: "
           "see crm_touchpoints_rejected_total and the dead-letter topic)";
  }
  reject_window_ = now;
  rejects_logged_ = 0;
  rejects_unlogged_ = 0;
}

absl::Status IngestLoop::Restore(std::int32_t partition) {
  const Timestamp started = ports_.clock->Now();
  Timestamp last_log = started;
  std::uint64_t reported = 0;
  const std::string name = options_.topic + "[" + std::to_string(partition) + "]";
  Line(ports_.listener, IngestListener::Severity::kInfo)
      << "restoring " << name << " from its changelog";
  // Lookups of the partition wait while it is restored, whatever the outcome.
  struct Restoring {
    PartitionOwnership* ownership;
    std::int32_t partition;
    ~Restoring() {
      if (ownership != nullptr) ownership->End(partition);
    }
  } restoring{ports_.ownership, partition};
  if (ports_.ownership != nullptr) ports_.ownership->Begin(partition);
  auto restored = ports_.processor->RestorePartition(partition, [&](std::uint64_t records) {
    ports_.probe->RestoreProgress(records - reported, false);
    reported = records;
    if (Elapsed(last_log, 1s)) {
      last_log = ports_.clock->Now();
      Line(ports_.listener, IngestListener::Severity::kInfo)
          << "restoring " << name << ": " << records << " changelog records read";
    }
  });
  if (!restored.ok()) {
    ports_.probe->RestoreProgress(0, true);
    return absl::Status(restored.status().code(),
                        "restoring " + name + ": " + std::string(restored.status().message()));
  }
  ports_.probe->RestoreProgress(restored->records - reported, true);
  const double seconds = std::chrono::duration<double>(ports_.clock->Now() - started).count();
  Line(ports_.listener, IngestListener::Severity::kInfo)
      << "restored " << name << " in " << seconds << " s: " << restored->records
      << " changelog records, " << restored->commits << " commits, " << restored->customers
      << " customer states applied, " << restored->dropped
      << " records of unfinished commits dropped, " << restored->rewritten
      << " customers written again" << (restored->new_epoch ? "; a new epoch begins" : "")
      << (restored->from_start ? "; from the changelog's start: the local checkpoint was "
                                 "older than the tombstone retention allows trusting"
                               : "");
  return absl::OkStatus();
}

void IngestLoop::RestoreFailed(std::int32_t partition, const absl::Status& why) {
  ports_.probe->RestoreFailed();
  if (ports_.ownership != nullptr) ports_.ownership->Fail(partition, std::string(why.message()));
  Line(ports_.listener, IngestListener::Severity::kError)
      << "cannot restore " << options_.topic << "[" << partition
      << "] from its changelog: " << why.message()
      << "; its customers are answered UNAVAILABLE and its touchpoints wait, the other "
         "partitions go on (repair: docs/architecture.md, \"A bad changelog record\")";
}

absl::StatusOr<std::set<std::int32_t>> IngestLoop::Prepare(const std::vector<std::int32_t>& given) {
  if (absl::Status settled = SettleBeforeRebalance(); !settled.ok()) return settled;
  std::set<std::int32_t> unrestored;
  if (!options_.restore_from_changelog) return unrestored;
  for (std::int32_t partition : given) {
    failed_.erase(partition);
    absl::Status restored = Restore(partition);
    if (absl::IsDataLoss(restored)) {
      // This partition only: owned (its customers answered UNAVAILABLE here,
      // not elsewhere), not consumed, until a new assignment.
      RestoreFailed(partition, restored);
      failed_.insert(partition);
      unrestored.insert(partition);
    } else if (!restored.ok()) {
      return restored;
    }
  }
  return unrestored;
}

absl::Status IngestLoop::SettleBeforeRebalance() {
  // The batch applied meanwhile belongs to the assignment that ends; a full
  // disk is the loop's to wait out, not the rebalance's to fail.
  absl::Status settled;
  Settle(settled);
  return settled;
}

absl::Status IngestLoop::Apply(const AssignmentEvent& event) {
  if (absl::Status settled = SettleBeforeRebalance(); !settled.ok()) return settled;
  // The processor's looks and caches follow the assignment, kept here.
  if (event.assigned) {
    if (!event.incremental) assigned_.clear();
    assigned_.insert(event.partitions.begin(), event.partitions.end());
  } else if (event.incremental) {
    for (std::int32_t partition : event.partitions) {
      assigned_.erase(partition);
      failed_.erase(partition);
    }
  } else {
    assigned_.clear();
    failed_.clear();
  }
  if (ports_.ownership != nullptr) {
    if (event.assigned && event.partition_count > 0) partition_count_ = event.partition_count;
    ports_.ownership->SetOwned(assigned_, partition_count_);
    if (event.assigned) {
      const Timestamp now = ports_.clock->Now();
      for (std::int32_t partition : event.partitions) ports_.ownership->Committed(partition, now);
    }
  }
  // Restored by now: lookups may come here for these.
  if (ports_.cluster != nullptr) ports_.cluster->Claim(assigned_, partition_count_);
  // The processor looks at the partitions it consumes only.
  std::vector<std::int32_t> ours;
  for (std::int32_t partition : assigned_) {
    if (!failed_.contains(partition)) ours.push_back(partition);
  }
  return ports_.processor->SetAssignment(ours);
}

}  // namespace crm
