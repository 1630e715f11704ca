#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/time.h"

namespace crm {

// The source of "now". Injected everywhere time is read, so that tests and
// replays control it. Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp Now() const = 0;
};

// Which clock "now" is for queries without as_of (--clock): kWall, the
// system clock (WallClock), or kEvent, the latest event time applied
// (EventClock).
enum class ClockMode : std::uint8_t { kWall, kEvent };
inline constexpr std::array<ClockMode, 2> kClockModes = {ClockMode::kWall, ClockMode::kEvent};
// "wall" or "event", as --clock spells it.
std::string_view ClockModeName(ClockMode mode);
// The mode ClockModeName names; nullopt for any other text.
std::optional<ClockMode> ParseClockMode(std::string_view name);

// The system's real-time clock; the only place that reads it (clock.cc).
class WallClock final : public Clock {
 public:
  Timestamp Now() const override;
};

// "Now" as the events tell it (--clock event): the latest event time applied,
// for replays of history and for tests, where the wall clock means nothing.
// The Unix epoch until a first event is observed.
class EventClock final : public Clock {
 public:
  Timestamp Now() const override { return FromMicros(latest_us_.load()); }
  // Moves "now" forward to `t`; an earlier time is ignored.
  void Observe(Timestamp t);

 private:
  std::atomic<std::int64_t> latest_us_{0};
};

}  // namespace crm
