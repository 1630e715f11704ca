#include "core/clock.h"

#include "core/closed_set.h"

namespace crm {

Timestamp WallClock::Now() const {
  return std::chrono::time_point_cast<Micros>(std::chrono::system_clock::now());
}

void EventClock::Observe(Timestamp t) {
  const std::int64_t us = ToMicros(t);
  std::int64_t current = latest_us_.load();
  while (us > current && !latest_us_.compare_exchange_weak(current, us)) {
  }
}

std::string_view ClockModeName(ClockMode mode) {
  static constexpr std::array<std::string_view, kClockModes.size()> kNames = {"wall", "event"};
  return kNames[static_cast<std::size_t>(mode)];
}

std::optional<ClockMode> ParseClockMode(std::string_view name) {
  return ParseByName(kClockModes, ClockModeName, name);
}

}  // namespace crm
