#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "core/alerts.h"
#include "core/board.h"
#include "core/clock.h"
#include "core/customer_state.h"
#include "core/ingest_probe.h"
#include "core/population.h"
#include "core/reject_sink.h"
#include "core/scorer.h"
#include "core/state_cache.h"
#include "core/state_store.h"
#include "core/touchpoint.h"
#include "core/validation.h"

namespace crm {

// One record read from the input topic, decoded at the service's edge: a
// touchpoint, or the reason it could not be decoded.
struct InputRecord {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::string key;
  std::string_view value;  // the original bytes, valid while the batch is processed
  std::variant<Touchpoint, Rejection> payload;
};

struct RejectedRecord {
  std::size_t index = 0;  // into the batch passed to Process
  Rejection rejection;
};

struct BatchResult {
  std::size_t applied = 0;
  std::size_t duplicates = 0;
  std::vector<RejectedRecord> rejected;
  std::vector<AlertEvent> alerts;  // with EnableAlerts
};

// What alert evaluation needs: the model in use and the policy.
struct AlertContext {
  const Board<Scorer>* scorers = nullptr;
  const AlertPolicy* policy = nullptr;
  // "Now" of evaluations; null: the latest event time applied (--clock event).
  const Clock* clock = nullptr;
};

struct IngestOptions {
  std::string topic = "crm.touchpoints";  // whose offsets are committed
  StateLimits limits;
  ValidationLimits validation;
  std::size_t cache_entries = 100'000;  // customers' states kept in memory
};

// Applies batches of input records to customer state, exactly once: each
// batch's changed states and its partitions' next offsets are committed in one
// atomic StateStore::Commit, so that a crash at any point either keeps a batch
// whole or replays it whole from the committed offsets.
//
// Used by the consumer thread only.
class IngestProcessor {
 public:
  // The pointers must outlive the processor. `clock` is the wall clock (for
  // validation and latency); `rejects` may be null (rejected records are then
  // only counted); `population` too (the population is then kept but not
  // published); `event_clock` too (told the latest event time applied, after
  // each commit).
  IngestProcessor(IngestOptions options, StateStore* store, const Clock* clock, IngestProbe* probe,
                  RejectSink* rejects, PopulationBoard* population = nullptr,
                  EventClock* event_clock = nullptr);

  // Loads the committed population and latest event time from the store and
  // publishes them. Call once before the first Process.
  absl::Status Load();

  // Validates and applies `records` (in order), then commits. Rejected records
  // go to the reject sink, flushed before the commit, and their offsets
  // advance like the others.
  // On error nothing of the batch is committed and the caller must resume
  // reading from the committed offsets.
  absl::StatusOr<BatchResult> Process(const std::vector<InputRecord>& records);

  // From now on, every customer a batch changes is re-scored: their alert is
  // raised or cleared (AlertEvents in the result; raised ones also go to the
  // store's outbox) and their next look is scheduled in the time index, all in
  // the batch's commit. Prospects (no purchase yet) are never alerted.
  void EnableAlerts(AlertContext context) { alerts_ = context; }

  // Re-scores up to `limit` customers due at or before now, in one commit
  // (no offsets move). Returns what it raised or cleared, and how many it
  // looked at (0: nothing is due).
  struct RescoreResult {
    std::size_t rescored = 0;
    std::vector<AlertEvent> alerts;
  };
  absl::StatusOr<RescoreResult> RescoreDue(std::size_t limit);

  // Forgets cached states (after a rebalance, the partitions' owner may change).
  void ClearCache() { cache_.Clear(); }

  const IngestOptions& options() const { return options_; }

 private:
  IngestOptions options_;
  StateStore* store_;
  const Clock* clock_;
  IngestProbe* probe_;
  RejectSink* rejects_;
  // Re-evaluates `state`'s alert at `now`; records the move in the time index
  // in `batch` and an event in `alerts` on a transition.
  void Reevaluate(const CustomerId& id, CustomerState& state, Timestamp now, StateBatch& batch,
                  std::vector<AlertEvent>& alerts);
  Timestamp EvaluationNow(std::optional<Timestamp> latest_event) const;
  // Tells the probe of committed alert transitions.
  void ReportAlerts(const std::vector<AlertEvent>& alerts);
  // Queues the raised alerts of `alerts` for delivery in `batch`.
  void AddToOutbox(const std::vector<AlertEvent>& alerts, StateBatch& batch);

  PopulationBoard* board_;
  AlertContext alerts_;
  std::shared_ptr<const PopulationView> view_for_alerts_;  // during a batch
  std::uint64_t next_alert_ = 0;                           // outbox sequence
  EventClock* event_clock_;
  std::optional<Timestamp> latest_event_;  // committed
  StateCache cache_;
  Population population_;
};

}  // namespace crm
