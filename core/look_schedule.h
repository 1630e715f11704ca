#pragma once

// The looks planned on one partition, held in memory: the time index of its
// customers' next looks (CustomerState's alert.next_look), which no longer
// costs a write to the store per look planned.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>

#include "absl/status/statusor.h"
#include "core/customer_id.h"
#include "core/state_store.h"
#include "core/time.h"

namespace crm {

// An entry of the time index of customers due for a new look (see
// core/alerts.h): `customer` is due at `at`.
struct DueEntry {
  Timestamp at{};
  CustomerId customer;
  friend bool operator==(const DueEntry&, const DueEntry&) = default;
  friend auto operator<=>(const DueEntry&, const DueEntry&) = default;
};

// What is due on a schedule: the looks due by some time (counted up to a
// cap) and the earliest of all.
struct ScheduleBacklog {
  std::uint64_t due = 0;
  std::optional<Timestamp> earliest;
};

// The earliest `capacity` entries of one partition's time index, as
// committed: each customer's next look, ordered by time then customer.
//
// Invariant: every entry earlier than floor() is held, none at or after it
// (no floor: every entry is held; a floor may lie earlier than the first
// entry not held, never later), and at most `capacity` are. The schedule
// is built from the committed states (Add each) and kept by moving each
// customer's entry as their commits move it; when the looks held run out
// before the floor is due, the owner builds it again from the states.
class LookSchedule {
 public:
  // REQUIRES: capacity > 0.
  explicit LookSchedule(std::size_t capacity);
  // `partition`'s schedule built from the next looks of its states in
  // `store`, holding the share of `entries` (> 0) that falls to it among
  // `partitions` (0: it alone).
  static absl::StatusOr<LookSchedule> Build(StateStore& store, std::int32_t partition,
                                            std::size_t entries, std::size_t partitions);

  // The customer's entry moves from `from` to `to` (absent: none).
  void Move(const CustomerId& id, std::optional<Timestamp> from, std::optional<Timestamp> to);
  void Add(const CustomerId& id, Timestamp at) { Move(id, std::nullopt, at); }

  // The first entry held after `after` (from the first when nullopt); null
  // when none is held after it.
  const DueEntry* After(const std::optional<DueEntry>& after) const;
  // The first entry not held; nullopt when every entry is held.
  const std::optional<DueEntry>& floor() const { return floor_; }
  // The looks held due at or before `until`, counted up to `cap`.
  ScheduleBacklog Backlog(Timestamp until, std::uint64_t cap) const;
  std::size_t size() const { return held_.size(); }
  // The most entries it holds.
  std::size_t capacity() const { return capacity_; }

 private:
  std::size_t capacity_;
  std::set<DueEntry> held_;
  std::optional<DueEntry> floor_;
};

}  // namespace crm
