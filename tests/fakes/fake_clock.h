#pragma once

#include <atomic>

#include "core/clock.h"

namespace crm::testing {

// A clock that stands still until told to move.
class FakeClock : public Clock {
 public:
  explicit FakeClock(Timestamp now) : now_(ToMicros(now)) {}
  Timestamp Now() const override { return FromMicros(now_.load()); }
  void Set(Timestamp now) { now_.store(ToMicros(now)); }

 private:
  std::atomic<std::int64_t> now_;
};

}  // namespace crm::testing
