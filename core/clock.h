#pragma once

#include "core/time.h"

namespace crm {

// The source of "now". Injected everywhere time is read, so that tests and
// replays control it. Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp Now() const = 0;
};

// The system's real-time clock; the only place that reads it (clock.cc).
class WallClock final : public Clock {
 public:
  Timestamp Now() const override;
};

}  // namespace crm
