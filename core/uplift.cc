#include "core/uplift.h"

#include <cmath>

#include "core/check.h"
#include "core/customer_state.h"

namespace crm {
namespace {

// The 97.5th percentile of the standard normal: a two-sided 95 % interval.
constexpr double kZ = 1.959963984540054;

// SplitMix64's finaliser: every bit of the result depends on every bit of
// `x` (FNV-1a alone leaves similar ids close in their high bits).
std::uint64_t Mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

bool InControlGroup(std::string_view alert_id, double share) {
  CRM_CHECK(share >= 0 && share <= 0.5);
  // The top 53 bits as a uniform number in [0, 1).
  const double u = static_cast<double>(Mix(EventIdHash(alert_id)) >> 11) * 0x1.0p-53;
  return u < share;
}

Interval WilsonInterval(std::uint64_t successes, std::uint64_t trials) {
  CRM_CHECK(trials > 0 && successes <= trials);
  const double n = static_cast<double>(trials);
  const double p = static_cast<double>(successes) / n;
  const double z2 = kZ * kZ;
  const double centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const double half = kZ / (1 + z2 / n) * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n));
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

std::optional<UpliftEstimate> EstimateUplift(std::uint64_t treated_alerts,
                                             std::uint64_t treated_recovered,
                                             std::uint64_t control_alerts,
                                             std::uint64_t control_recovered) {
  if (treated_alerts == 0 || control_alerts == 0) return std::nullopt;
  UpliftEstimate estimate;
  estimate.treated_rate =
      static_cast<double>(treated_recovered) / static_cast<double>(treated_alerts);
  estimate.control_rate =
      static_cast<double>(control_recovered) / static_cast<double>(control_alerts);
  estimate.uplift = estimate.treated_rate - estimate.control_rate;
  const Interval treated = WilsonInterval(treated_recovered, treated_alerts);
  const Interval control = WilsonInterval(control_recovered, control_alerts);
  const double below =
      std::hypot(estimate.treated_rate - treated.low, control.high - estimate.control_rate);
  const double above =
      std::hypot(treated.high - estimate.treated_rate, estimate.control_rate - control.low);
  estimate.interval = {estimate.uplift - below, estimate.uplift + above};
  return estimate;
}

}  // namespace crm
