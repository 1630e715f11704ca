#pragma once

// The live customer population, as the distributions the RFM/FRAT scores and
// the ABC segment are relative to. Each axis is a mergeable histogram that
// also supports removal, so that it always holds every customer's *current*
// value exactly once: when a customer's state changes, their old value leaves
// and the new one enters. Integer axes (days, counts) are exact; money axes use
// logarithmic buckets of 1 % relative width (the DDSketch of Masson, Rim & Lee,
// 2019), so that any rank is exact up to the customers within 1 % of a value.
// Histograms are kept per partition (they move with it) and persisted cell by
// cell in the same write batch as the states they describe.

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/board.h"
#include "core/customer_state.h"
#include "core/segment.h"

namespace crm {

enum class PopulationAxis : std::uint8_t {
  kLastPurchaseDay,  // R: later is better
  kFrequency,        // F: transactions (distinct purchase days)
  kMonetary,         // M: revenue net of returns per transaction
  kProductTypes,     // T: distinct products bought
  kRevenue,          // revenue net of returns, for the ABC segment
};
inline constexpr int kPopulationAxisCount = 5;

// A buyer's values on every axis; prospects are not part of the population.
struct PopulationEntry {
  std::array<double, kPopulationAxisCount> values{};
  friend bool operator==(const PopulationEntry&, const PopulationEntry&) = default;
};
std::optional<PopulationEntry> PopulationEntryOf(const CustomerState& state);

// The bucket of `value` on `axis`; buckets are ordered as values are.
std::int64_t PopulationBucket(PopulationAxis axis, double value);
// A value representative of `bucket` (its centre for money axes).
double PopulationBucketValue(PopulationAxis axis, std::int64_t bucket);

// One persisted count: customers of `partition` whose value on `axis` falls
// in `bucket`. A count of 0 means the cell is to be deleted.
struct PopulationCell {
  std::int32_t partition = 0;
  PopulationAxis axis = PopulationAxis::kFrequency;
  std::int64_t bucket = 0;
  std::int64_t count = 0;
  friend bool operator==(const PopulationCell&, const PopulationCell&) = default;
};

// Why cells another instance published for `partition` are not to be
// trusted (an empty string when they are): more than kMaxPublishedCells, a
// cell of another partition, an unknown axis, a bucket no value can fall in,
// or a count outside [0, kMaxCellCount] (which keeps every sum of counts far
// from overflowing).
inline constexpr std::size_t kMaxPublishedCells = 1 << 20;
inline constexpr std::int64_t kMaxCellCount = std::int64_t{1} << 40;
std::string PublishedCellsProblem(std::int32_t partition, const std::vector<PopulationCell>& cells);

// An immutable merged view of the population, for scoring: ranks are
// mid-ranks (customers below plus half of those tied), in [0, 1].
class PopulationView {
 public:
  std::int64_t customers() const { return customers_; }
  // How many partitions' histograms it merges.
  std::int32_t partitions() const { return partitions_; }
  // The 1-5 quintile score of `value` on `axis` (5 best: latest purchase,
  // most frequent, highest value, broadest); 0 when the population is empty.
  int Score(PopulationAxis axis, double value) const;
  // The ABC segment of `revenue`: kA when the customers at or above it make
  // the top 80 % of the revenue, kB the next 15 %, kC the rest (and anyone
  // with no positive revenue); kNone when the population is empty.
  Segment AbcSegment(double revenue) const;
  double Rank(PopulationAxis axis, double value) const;

 private:
  friend class Population;
  struct Axis {
    std::vector<std::int64_t> buckets;  // ascending
    std::vector<std::int64_t> below;    // customers in lower buckets
    std::vector<std::int64_t> counts;
    std::vector<double> revenue_above;  // kRevenue only: revenue in higher buckets
    double total_revenue = 0;
  };
  std::array<Axis, kPopulationAxisCount> axes_;
  std::int64_t customers_ = 0;
  std::int32_t partitions_ = 0;
};

// The mutable population, one histogram set per partition. Not thread-safe:
// the ingest thread owns it and publishes views.
class Population {
 public:
  // Moves one customer of `partition` from `before` to `after` (either may be
  // absent: a new buyer, an erased customer). Appends the cells whose count
  // changed to `changed` (several changes to one cell append it each time;
  // the last is the one that counts).
  void Replace(std::int32_t partition, const std::optional<PopulationEntry>& before,
               const std::optional<PopulationEntry>& after, std::vector<PopulationCell>* changed);
  // Sets one cell, as loaded from storage.
  void Restore(const PopulationCell& cell);
  // Forgets a partition (revoked from this instance).
  void DropPartition(std::int32_t partition);

  // Scale-out: the partitions this instance owns, whose histograms are its
  // own; another partition's come from its owner's last publication
  // (SetRemote) when there is one, else from what was stored here.
  void SetOwned(std::set<std::int32_t> owned);
  // The histograms of `partition` as its owner published them (replacing any
  // earlier publication).
  void SetRemote(std::int32_t partition, const std::vector<PopulationCell>& cells);
  void ClearRemote(std::int32_t partition);
  // The cells of a partition's own histograms, to publish them.
  std::vector<PopulationCell> Cells(std::int32_t partition) const;
  // Changes whenever the partition's own histograms do (0: never had any).
  std::uint64_t Version(std::int32_t partition) const;
  // The partitions the view covers.
  std::set<std::int32_t> Covered() const;

  std::int64_t customers() const;
  std::shared_ptr<const PopulationView> View() const;

 private:
  using Histogram = std::map<std::int64_t, std::int64_t>;  // bucket → customers
  using Axes = std::array<Histogram, kPopulationAxisCount>;
  void Add(std::int32_t partition, PopulationAxis axis, double value, int delta,
           std::vector<PopulationCell>* changed);

  // The histograms a partition's view takes.
  const Axes& Source(std::int32_t partition, const Axes& local) const;

  std::map<std::int32_t, Axes> partitions_;
  std::map<std::int32_t, Axes> remote_;
  std::map<std::int32_t, std::uint64_t> versions_;
  std::optional<std::set<std::int32_t>> owned_;  // nullopt: every stored partition is ours
};

// Population publications of other instances, handed from the thread that
// reads them to the ingest thread (IngestProcessor::TakeRemotePopulation).
// Thread-safe.
class RemotePopulationInbox {
 public:
  void Put(std::int32_t partition, std::vector<PopulationCell> cells) ABSL_LOCKS_EXCLUDED(mutex_);
  // What was put since the last call, the latest per partition.
  std::map<std::int32_t, std::vector<PopulationCell>> Take() ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  absl::Mutex mutex_;
  std::map<std::int32_t, std::vector<PopulationCell>> pending_ ABSL_GUARDED_BY(mutex_);
};

// Where the ingest thread publishes the latest view and query threads read it.
using PopulationBoard = Board<PopulationView>;

}  // namespace crm
