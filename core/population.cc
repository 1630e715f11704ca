#include "core/population.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace crm {
namespace {

// Money buckets: γ = 1.02 gives a relative error of at most 1 % on a value
// rebuilt from its bucket; index 0 holds |v| < 1e-6, positive values go above
// it and negative ones below, mirrored.
constexpr double kGamma = 1.02;
constexpr double kZero = 1e-6;
constexpr std::int64_t kIndexOffset = 1000;  // log_γ(1e-6) ≈ -698

bool IsMoney(PopulationAxis axis) {
  return axis == PopulationAxis::kMonetary || axis == PopulationAxis::kRevenue;
}

std::int64_t MoneyBucket(double value) {
  const double magnitude = std::fabs(value);
  if (!(magnitude >= kZero)) return 0;  // also NaN
  const double index = std::ceil(std::log(std::min(magnitude, 1e15)) / std::log(kGamma));
  const auto bucket = static_cast<std::int64_t>(index) + kIndexOffset;
  return value > 0 ? bucket : -bucket;
}

double MoneyValue(std::int64_t bucket) {
  if (bucket == 0) return 0;
  const double index = static_cast<double>(std::abs(bucket) - kIndexOffset);
  const double value = 2 * std::pow(kGamma, index) / (kGamma + 1);
  return bucket > 0 ? value : -value;
}

}  // namespace

std::optional<PopulationEntry> PopulationEntryOf(const CustomerState& state) {
  if (state.purchase_days.empty()) return std::nullopt;
  PopulationEntry entry;
  const double revenue = state.purchase_amount - state.return_amount;
  const auto transactions = static_cast<double>(state.purchase_days.size());
  entry.values[static_cast<int>(PopulationAxis::kLastPurchaseDay)] = state.purchase_days.back();
  entry.values[static_cast<int>(PopulationAxis::kFrequency)] = transactions;
  entry.values[static_cast<int>(PopulationAxis::kMonetary)] = revenue / transactions;
  entry.values[static_cast<int>(PopulationAxis::kProductTypes)] = static_cast<double>(
      std::count_if(state.products.begin(), state.products.end(),
                    [](const auto& product) { return product.second.purchases > 0; }));
  entry.values[static_cast<int>(PopulationAxis::kRevenue)] = revenue;
  return entry;
}

std::int64_t PopulationBucket(PopulationAxis axis, double value) {
  if (IsMoney(axis)) return MoneyBucket(value);
  return static_cast<std::int64_t>(std::llround(value));
}

double PopulationBucketValue(PopulationAxis axis, std::int64_t bucket) {
  return IsMoney(axis) ? MoneyValue(bucket) : static_cast<double>(bucket);
}

std::string PublishedCellsProblem(std::int32_t partition,
                                  const std::vector<PopulationCell>& cells) {
  if (cells.size() > kMaxPublishedCells) {
    return std::to_string(cells.size()) + " cells, more than " + std::to_string(kMaxPublishedCells);
  }
  // The widest bucket each axis can hold: money up to 1e15 either way, days
  // of years 1900-9999, and counts of transactions or products.
  const std::int64_t money = MoneyBucket(1e15);
  for (const PopulationCell& cell : cells) {
    if (cell.partition != partition) return "a cell of partition " + std::to_string(cell.partition);
    std::int64_t low = 0, high = 0;
    switch (cell.axis) {
      case PopulationAxis::kMonetary:
      case PopulationAxis::kRevenue:
        low = -money;
        high = money;
        break;
      case PopulationAxis::kLastPurchaseDay:
        low = -30'000;
        high = 3'000'000;
        break;
      case PopulationAxis::kFrequency:
      case PopulationAxis::kProductTypes:
        high = 100'000'000;
        break;
      default:
        return "an unknown axis";
    }
    if (cell.bucket < low || cell.bucket > high) {
      return "bucket " + std::to_string(cell.bucket) + " outside [" + std::to_string(low) + ", " +
             std::to_string(high) + "]";
    }
    if (cell.count < 0 || cell.count > kMaxCellCount) {
      return "count " + std::to_string(cell.count) + " outside [0, 2^40]";
    }
  }
  return "";
}

double PopulationView::Rank(PopulationAxis axis, double value) const {
  const Axis& a = axes_[static_cast<int>(axis)];
  if (customers_ == 0 || a.buckets.empty()) return 0;
  const std::int64_t bucket = PopulationBucket(axis, value);
  const auto it = std::lower_bound(a.buckets.begin(), a.buckets.end(), bucket);
  const auto i = static_cast<std::size_t>(it - a.buckets.begin());
  if (i == a.buckets.size()) return 1;
  const double tied = *it == bucket ? static_cast<double>(a.counts[i]) : 0;
  const double total = static_cast<double>(a.below.back() + a.counts.back());
  return (static_cast<double>(a.below[i]) + tied / 2) / total;
}

int PopulationView::Score(PopulationAxis axis, double value) const {
  if (customers_ == 0) return 0;
  return 1 + std::min(4, static_cast<int>(Rank(axis, value) * 5));
}

Segment PopulationView::AbcSegment(double revenue) const {
  if (customers_ == 0) return Segment::kNone;
  const Axis& a = axes_[static_cast<int>(PopulationAxis::kRevenue)];
  const std::int64_t bucket = PopulationBucket(PopulationAxis::kRevenue, revenue);
  if (bucket <= 0 || a.total_revenue <= 0) return Segment::kC;
  const auto it = std::lower_bound(a.buckets.begin(), a.buckets.end(), bucket);
  // Revenue of the customers strictly above this revenue's bucket, as a share
  // (the first bucket found is above it when nobody has this revenue).
  double above = 0;
  if (it != a.buckets.end()) {
    const auto i = static_cast<std::size_t>(it - a.buckets.begin());
    above = a.revenue_above[i];
    if (*it != bucket) above += MoneyValue(*it) * static_cast<double>(a.counts[i]);
  }
  const double share = above / a.total_revenue;
  if (share < 0.80) return Segment::kA;
  if (share < 0.95) return Segment::kB;
  return Segment::kC;
}

void Population::Add(std::int32_t partition, PopulationAxis axis, double value, int delta,
                     std::vector<PopulationCell>* changed) {
  ++versions_[partition];
  Histogram& histogram = partitions_[partition][static_cast<int>(axis)];
  const std::int64_t bucket = PopulationBucket(axis, value);
  std::int64_t& count = histogram[bucket];
  count = std::max<std::int64_t>(0, count + delta);
  const std::int64_t now = count;
  if (now == 0) histogram.erase(bucket);
  if (changed != nullptr) changed->push_back({partition, axis, bucket, now});
}

void Population::Replace(std::int32_t partition, const std::optional<PopulationEntry>& before,
                         const std::optional<PopulationEntry>& after,
                         std::vector<PopulationCell>* changed) {
  for (int i = 0; i < kPopulationAxisCount; ++i) {
    const auto axis = static_cast<PopulationAxis>(i);
    if (before && after &&
        PopulationBucket(axis, before->values[i]) == PopulationBucket(axis, after->values[i])) {
      continue;
    }
    if (before) Add(partition, axis, before->values[i], -1, changed);
    if (after) Add(partition, axis, after->values[i], +1, changed);
  }
}

void Population::Restore(const PopulationCell& cell) {
  ++versions_[cell.partition];
  Histogram& histogram = partitions_[cell.partition][static_cast<int>(cell.axis)];
  if (cell.count > 0) {
    histogram[cell.bucket] = cell.count;
  } else {
    histogram.erase(cell.bucket);
  }
}

void Population::DropPartition(std::int32_t partition) {
  partitions_.erase(partition);
  ++versions_[partition];
}

std::uint64_t Population::Version(std::int32_t partition) const {
  const auto it = versions_.find(partition);
  return it == versions_.end() ? 0 : it->second;
}

void Population::SetOwned(std::set<std::int32_t> owned) { owned_ = std::move(owned); }

void Population::SetRemote(std::int32_t partition, const std::vector<PopulationCell>& cells) {
  Axes& axes = remote_[partition];
  axes = {};
  for (const PopulationCell& cell : cells) {
    if (cell.count > 0) axes[static_cast<int>(cell.axis)][cell.bucket] = cell.count;
  }
}

void Population::ClearRemote(std::int32_t partition) { remote_.erase(partition); }

std::vector<PopulationCell> Population::Cells(std::int32_t partition) const {
  std::vector<PopulationCell> cells;
  const auto it = partitions_.find(partition);
  if (it == partitions_.end()) return cells;
  for (int i = 0; i < kPopulationAxisCount; ++i) {
    for (const auto& [bucket, count] : it->second[i]) {
      cells.push_back({partition, static_cast<PopulationAxis>(i), bucket, count});
    }
  }
  return cells;
}

const Population::Axes& Population::Source(std::int32_t partition, const Axes& local) const {
  if (owned_ && !owned_->contains(partition)) {
    if (const auto remote = remote_.find(partition); remote != remote_.end()) return remote->second;
  }
  return local;
}

std::set<std::int32_t> Population::Covered() const {
  std::set<std::int32_t> covered;
  for (const auto& [partition, axes] : partitions_) covered.insert(partition);
  for (const auto& [partition, axes] : remote_) covered.insert(partition);
  return covered;
}

std::int64_t Population::customers() const {
  std::int64_t total = 0;
  const Axes none;
  for (const std::int32_t partition : Covered()) {
    const auto local = partitions_.find(partition);
    const Axes& axes = Source(partition, local == partitions_.end() ? none : local->second);
    for (const auto& [bucket, count] : axes[static_cast<int>(PopulationAxis::kFrequency)]) {
      total += count;
    }
  }
  return total;
}

void RemotePopulationInbox::Put(std::int32_t partition, std::vector<PopulationCell> cells) {
  absl::MutexLock lock(&mutex_);
  pending_[partition] = std::move(cells);
}

std::map<std::int32_t, std::vector<PopulationCell>> RemotePopulationInbox::Take() {
  absl::MutexLock lock(&mutex_);
  return std::exchange(pending_, {});
}

std::shared_ptr<const PopulationView> Population::View() const {
  auto view = std::make_shared<PopulationView>();
  view->partitions_ = static_cast<std::int32_t>(Covered().size());
  for (int i = 0; i < kPopulationAxisCount; ++i) {
    Histogram merged;
    const Axes none;
    for (const std::int32_t partition : Covered()) {
      const auto local = partitions_.find(partition);
      const Axes& axes = Source(partition, local == partitions_.end() ? none : local->second);
      for (const auto& [bucket, count] : axes[i]) merged[bucket] += count;
    }
    PopulationView::Axis& axis = view->axes_[i];
    std::int64_t below = 0;
    for (const auto& [bucket, count] : merged) {
      axis.buckets.push_back(bucket);
      axis.below.push_back(below);
      axis.counts.push_back(count);
      below += count;
    }
    if (i == static_cast<int>(PopulationAxis::kFrequency)) view->customers_ = below;
    if (i == static_cast<int>(PopulationAxis::kRevenue)) {
      axis.revenue_above.assign(axis.buckets.size(), 0);
      double above = 0;
      for (std::size_t j = axis.buckets.size(); j-- > 0;) {
        axis.revenue_above[j] = above;
        const double value = MoneyValue(axis.buckets[j]);
        if (value > 0) above += value * static_cast<double>(axis.counts[j]);
      }
      axis.total_revenue = above;
    }
  }
  return view;
}

}  // namespace crm
