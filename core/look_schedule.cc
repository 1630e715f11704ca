#include "core/look_schedule.h"

#include <algorithm>
#include <iterator>

#include "core/check.h"

namespace crm {

LookSchedule::LookSchedule(std::size_t capacity) : capacity_(capacity) { CRM_CHECK(capacity > 0); }

absl::StatusOr<LookSchedule> LookSchedule::Build(StateStore& store, std::int32_t partition,
                                                 std::size_t entries, std::size_t partitions) {
  // The looks held are shared out evenly among the partitions.
  LookSchedule schedule(std::max<std::size_t>(1, entries / std::max<std::size_t>(1, partitions)));
  absl::Status read = store.ForEachNextLook(
      partition, [&](const CustomerId& id, Timestamp at) { schedule.Add(id, at); });
  if (!read.ok()) return read;
  return schedule;
}

void LookSchedule::Move(const CustomerId& id, std::optional<Timestamp> from,
                        std::optional<Timestamp> to) {
  if (from == to) return;  // a look that did not move
  if (from) held_.erase(DueEntry{*from, id});
  if (!to) return;
  DueEntry entry{*to, id};
  if (floor_ && !(entry < *floor_)) return;  // not held, as every entry past the floor
  held_.insert(std::move(entry));
  if (held_.size() <= capacity_) return;
  // The latest held leaves, and the floor comes down to it.
  auto last = std::prev(held_.end());
  floor_ = std::move(held_.extract(last).value());
}

const DueEntry* LookSchedule::After(const std::optional<DueEntry>& after) const {
  const auto it = after ? held_.upper_bound(*after) : held_.begin();
  return it == held_.end() ? nullptr : &*it;
}

ScheduleBacklog LookSchedule::Backlog(Timestamp until, std::uint64_t cap) const {
  ScheduleBacklog backlog;
  if (!held_.empty()) backlog.earliest = held_.begin()->at;
  if (!backlog.earliest && floor_) backlog.earliest = floor_->at;
  for (auto it = held_.begin(); it != held_.end() && it->at <= until && backlog.due < cap; ++it) {
    ++backlog.due;
  }
  // Past the held ones, at least the floor is due too.
  if (backlog.due == held_.size() && floor_ && floor_->at <= until && backlog.due < cap) {
    ++backlog.due;
  }
  return backlog;
}

}  // namespace crm
