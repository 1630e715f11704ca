#pragma once

#include <atomic>
#include <cstdint>

#include "core/clock.h"
#include "core/time.h"

namespace crm::testing {

// A Clock that stands still until told to move. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(Timestamp now) : now_us_(ToMicros(now)) {}

  Timestamp Now() const override { return FromMicros(now_us_.load()); }

  void Set(Timestamp now) { now_us_.store(ToMicros(now)); }
  void Advance(Micros by) { now_us_.fetch_add(by.count()); }

 private:
  std::atomic<std::int64_t> now_us_;
};

}  // namespace crm::testing
