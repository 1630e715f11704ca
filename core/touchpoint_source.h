// The ports between the ingest loop (core/ingest_loop.h) and what feeds it:
// the input (a Kafka consumer-group member in the service), and the group's
// decisions about which partitions this instance owns.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/ingest_processor.h"
#include "core/time.h"

namespace crm {

// A change of the input partitions given to this instance.
struct AssignmentEvent {
  bool assigned = false;  // true: `partitions` are given; false: they are taken away
  // Cooperative rebalancing: `partitions` add to (or leave) the assignment.
  // Otherwise an assignment replaces the previous one and a revocation ends
  // every partition.
  bool incremental = false;
  std::vector<std::int32_t> partitions;  // of the input topic
  // On an assignment: the input topic's partition count, as the brokers
  // tell it now (0: not known).
  std::int32_t partition_count = 0;
};

// Told of every rebalance by the source, on the thread that called
// TouchpointSource::Poll, from inside it: before the partitions assigned are
// fetched, so that whatever Prepare brings up to date is what their records
// are read after.
class AssignmentListener {
 public:
  virtual ~AssignmentListener() = default;
  // Called with the partitions given, before the source positions them at
  // their stored offsets (so a restore may move those). Returns the
  // partitions not to consume (their restore failed: the source assigns them
  // paused, until their next assignment); an error is fatal (the source
  // gives the partitions nothing and Poll returns it).
  virtual absl::StatusOr<std::set<std::int32_t>> Prepare(
      const std::vector<std::int32_t>& given) = 0;
  // Called once the source applied `event` (assigned or unassigned). An
  // error is fatal: Poll returns it.
  virtual absl::Status Apply(const AssignmentEvent& event) = 0;
};

// What one Poll returned.
struct SourceBatch {
  // Decoded at the edge, in the order read. Their `value` views point into
  // `bytes`, valid as long as the batch holds it (a Poll into the batch
  // lets it go).
  std::vector<InputRecord> records;
  std::shared_ptr<const void> bytes;
  // When each record that says so was produced (its broker timestamp), for
  // freshness; not one per record.
  std::vector<Timestamp> produced_at;
  bool disconnected = false;  // the brokers went away during the poll
};

// One partition's lag: records the brokers have past the stored offset.
struct PartitionLag {
  std::int32_t partition = 0;
  std::int64_t records = 0;
};

// The input, as the ingest loop needs it: records in batches, offsets
// committed back for monitoring, rebalances turned into AssignmentEvents.
// Positions follow the StateStore's committed offsets, never the source's
// own. Every method is called from the loop's thread only.
class TouchpointSource {
 public:
  virtual ~TouchpointSource() = default;
  // Joins the input; `listener` (which must outlive the source) is told of
  // every rebalance from then on, from inside Poll and Close.
  virtual absl::Status Start(AssignmentListener* listener) = 0;
  // Reads up to `max_records`, waiting up to `timeout_ms` for the first
  // (then taking only what is already fetched). Records read before a
  // rebalance are dropped (they are read again from the stored offsets).
  // Fills `batch` (cleared first); an error is fatal (the brokers', or a
  // listener's).
  virtual absl::Status Poll(int timeout_ms, std::size_t max_records, SourceBatch& batch) = 0;
  // Whether every broker was reported down since the last call.
  virtual bool TakeBrokersDown() = 0;
  // Whether the brokers answer within `timeout_ms`.
  virtual bool BrokersAnswer(int timeout_ms) = 0;
  // Moves every assigned partition back to its stored offset.
  virtual void Rewind() = 0;
  // Tells the brokers the next offset of each partition (monitoring only).
  virtual void Commit(const std::map<std::int32_t, std::int64_t>& next_offsets) = 0;
  // The lag of each assigned partition whose high watermark is known.
  virtual std::vector<PartitionLag> Lag() = 0;
  // Leaves the input (a last revocation may reach the listener).
  virtual void Close() = 0;
};

}  // namespace crm
