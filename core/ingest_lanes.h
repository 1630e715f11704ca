#pragma once

// Partition-parallel ingest (--ingest-threads): the partitions assigned are
// dealt out among lanes, each an IngestProcessor with its own cache, look
// scheduler, reject sink and changelog, committing to the one store from its
// own thread; the consumer thread polls, hands each lane its part of the
// batch (Start), polls the next meanwhile, and waits for them all (Finish)
// before handing it out.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/alert_sequence.h"
#include "core/ingest_processor.h"
#include "core/parallel_loop.h"
#include "core/population.h"

namespace crm {

// What each lane is given besides the options all share.
struct LanePorts {
  RejectSink* rejects = nullptr;  // null: rejected records are only counted
};

// Invariant: each partition is one lane's — its records, looks, erasures and
// restore go to that lane alone — so that the lanes share no customer, and
// every lane's commit is the exactly-once commit of its partitions. What
// crosses lanes: the alert sequence (one for the store), the population
// (each lane's partitions shared with the others between steps, at least
// every kShareInterval and whenever the input is quiet, and published
// whole), the event clock (thread-safe) and the shared states
// (thread-safe, disjoint customers).
//
// Used by the consumer thread only; the lanes' threads run inside its calls,
// and between Start and Finish.
class IngestLanes final : public Ingest, public AlertDeliveryListener {
 public:
  // How long a lane's view may lack what the other lanes' commits moved in
  // the population (ranks relative to it move slowly; instances of a
  // cluster share theirs every --cluster-heartbeat-ms).
  static constexpr Micros kShareInterval = std::chrono::seconds(1);

  // One lane per entry of `lanes` (at least one). `options` are each
  // lane's, but for the cache and the schedule, shared out evenly, and the
  // alert sequence (the lanes'). `board` (may be null) is where the
  // population's view, every lane's partitions, is published; `event_clock`
  // (may be null) is fed by every lane. `lane_started` is called first on
  // each lane's thread. The pointers must outlive the lanes.
  IngestLanes(IngestOptions options, StateStore* store, const Clock* clock, IngestProbe* probe,
              const std::vector<LanePorts>& lanes, PopulationBoard* board, EventClock* event_clock,
              const std::function<void()>& lane_started = {});
  ~IngestLanes() override;

  std::size_t size() const { return lanes_.size(); }

  // IngestProcessor's, for every lane.
  absl::Status Load();
  void EnableAlerts(const AlertContext& context);
  // One context per lane, in order: each lane writes its partitions'
  // commits to its own changelog client.
  void EnableChangelog(std::vector<ChangelogContext> contexts);

  // Each lane applies and commits the records of its partitions, all at
  // once; the result is theirs together (indexes into `records`). On error
  // (the first lane's that failed), the lanes that succeeded committed their
  // part: every partition resumes from its committed offset.
  absl::StatusOr<BatchResult> Process(const std::vector<InputRecord>& records) override;
  // Process in two halves: the lanes' threads apply the records between
  // them, the calling thread is free (Ingest's contract).
  void Start(const std::vector<InputRecord>& records) override;
  absl::StatusOr<BatchResult> Finish() override;
  // Each lane takes up to `limit` looks due, all at once (a round lasts as
  // long as one lane's; the total says when more were due than one took).
  absl::StatusOr<BatchResult> TakeDueLooks(std::size_t limit) override;
  // The lanes share what moved in their population, whether kShareInterval
  // passed or not: the view is whole once the input is quiet.
  void Idle() override;
  // Deals `partitions` out among the lanes and tells each lane its own:
  // sticky (a partition kept stays in its lane, where its hand-over state
  // is), those given to the lanes holding the fewest. Records of partitions
  // never assigned go to the lane of their number modulo the lanes, and
  // their population is not shared: give the lanes an assignment first.
  absl::Status SetAssignment(const std::vector<std::int32_t>& partitions) override;
  // The lane of `partition` restores it.
  absl::StatusOr<RestoreResult> RestorePartition(
      std::int32_t partition,
      const std::function<void(std::uint64_t)>& progress = nullptr) override;
  // Each request goes to the lane of its customer's partition.
  absl::Status TakeErasures(ErasureQueue& queue, AuditLog& audit) override;

  void TakeRemotePopulation(RemotePopulationInbox& inbox) override;
  std::vector<PopulationCell> PopulationCells(std::int32_t partition) const override;
  std::uint64_t PopulationVersion(std::int32_t partition) const override;
  // The lanes' looks due together. Thread-safe.
  ScheduleBacklog Backlog(Timestamp until, std::uint64_t cap) const;
  // Every lane learns it (each keeps its partitions' deliveries).
  void AlertDelivered(const AlertEvent& alert) override;

 private:
  // Gives `partition` to the lane holding the fewest, unless it has one.
  void Deal(std::int32_t partition);
  std::size_t LaneOf(std::int32_t partition) const;
  // Runs body(lane) for every lane at once; the first error, in lane order.
  absl::Status OnEveryLane(const std::function<absl::Status(std::size_t)>& body);
  // The population of each lane's partitions that moved goes to the other
  // lanes (`always`, or once kShareInterval passed since it last did: each
  // lane builds its view again with what it is given); the view, theirs
  // together, to the board.
  void SharePopulation(bool always);

  StateStore* const store_;
  const Clock* const clock_;
  PopulationBoard* const board_;
  AlertSequence alert_sequence_;
  std::vector<std::unique_ptr<PopulationBoard>> boards_;  // each lane's view
  std::vector<std::unique_ptr<IngestProcessor>> lanes_;
  ParallelLoop threads_;  // a thread a lane
  // The batch started: each lane's indexes into it, and each lane's result.
  bool in_flight_ = false;
  std::vector<std::vector<std::size_t>> parts_;
  std::vector<absl::StatusOr<BatchResult>> results_;
  // The lane each partition was dealt to (others: its number modulo the
  // lanes), and the population version of each partition as last shared.
  std::map<std::int32_t, std::size_t> lane_of_;
  std::map<std::int32_t, std::uint64_t> shared_versions_;
  Timestamp last_shared_{};
};

}  // namespace crm
