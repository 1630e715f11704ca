#pragma once

// The campaign loop's arithmetic: which alerts are held out as the control
// group, and the uplift of the treated over the control with its interval.

#include <cstdint>
#include <optional>
#include <string_view>

namespace crm {

// Whether the alert `alert_id` is in the control group of share `share`
// (0 to 0.5): a function of the id alone, so that every instance, after
// every restart and replay, decides the same. About `share` of the ids are.
// REQUIRES: 0 <= share <= 0.5.
bool InControlGroup(std::string_view alert_id, double share);

// A proportion's 95 % interval.
struct Interval {
  double low = 0;
  double high = 0;
};

// Wilson's score interval for `successes` of `trials` (z = 1.96).
// REQUIRES: 0 < trials, successes <= trials.
Interval WilsonInterval(std::uint64_t successes, std::uint64_t trials);

// The recovery rates of both groups, their difference (the uplift: treated
// minus control) and its 95 % interval by Newcombe's hybrid score method
// (Newcombe 1998, method 10: the Wilson intervals of each rate combined),
// which keeps close to its nominal coverage with small groups and rates
// near 0 or 1, where the Wald interval does not.
struct UpliftEstimate {
  double treated_rate = 0;
  double control_rate = 0;
  double uplift = 0;
  Interval interval;
};

// Nullopt when either group has no alert. REQUIRES: recovered <= alerts in each.
std::optional<UpliftEstimate> EstimateUplift(std::uint64_t treated_alerts,
                                             std::uint64_t treated_recovered,
                                             std::uint64_t control_alerts,
                                             std::uint64_t control_recovered);

}  // namespace crm
