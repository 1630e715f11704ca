#pragma once

#include <chrono>
#include <cstdint>

namespace crm {

// Event time and wall time are both microseconds since the Unix epoch (UTC).
using Micros = std::chrono::microseconds;
using Timestamp = std::chrono::sys_time<Micros>;
using Days = std::chrono::days;

// The UTC calendar day of `t`, as days since 1970-01-01.
inline std::int32_t DayNumber(Timestamp t) {
  return static_cast<std::int32_t>(std::chrono::floor<Days>(t).time_since_epoch().count());
}

inline Timestamp FromMicros(std::int64_t micros) { return Timestamp(Micros(micros)); }
inline std::int64_t ToMicros(Timestamp t) { return t.time_since_epoch().count(); }

// A span of fractional days, to the microsecond.
inline Micros FromDays(double days) {
  return std::chrono::duration_cast<Micros>(std::chrono::duration<double, std::ratio<86400>>(days));
}

// Fractional days from `from` to `to` (negative when `to` is earlier).
inline double DaysBetween(Timestamp from, Timestamp to) {
  return std::chrono::duration<double, std::ratio<86400>>(to - from).count();
}

}  // namespace crm
