#include "core/clock.h"

namespace crm {

Timestamp WallClock::Now() const {
  return std::chrono::time_point_cast<Micros>(std::chrono::system_clock::now());
}

}  // namespace crm
