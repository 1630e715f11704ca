#include "core/alerts.h"

#include <cmath>
#include <cstdio>
#include <string>

namespace crm {
namespace {

bool InUnitRange(double v) { return std::isfinite(v) && v >= 0 && v <= 1; }

absl::Status CheckThresholds(const AlertThresholds& t, const std::string& where) {
  if (!InUnitRange(t.raise) || !InUnitRange(t.clear)) {
    return absl::InvalidArgumentError(where + ": thresholds must be in [0, 1]");
  }
  if (!(t.clear < t.raise)) {
    return absl::InvalidArgumentError(where + ": clear must be below raise");
  }
  if (t.cooldown < Micros(0)) return absl::InvalidArgumentError(where + ": negative cooldown");
  return absl::OkStatus();
}

}  // namespace

const AlertThresholds& AlertPolicy::For(Segment segment) const {
  auto it = by_segment.find(segment);
  return it == by_segment.end() ? defaults : it->second;
}

absl::Status ValidateAlertPolicy(const AlertPolicy& policy) {
  if (absl::Status s = CheckThresholds(policy.defaults, "alert policy"); !s.ok()) return s;
  for (const auto& [segment, thresholds] : policy.by_segment) {
    if (absl::Status s = CheckThresholds(
            thresholds, "alert policy of segment " + std::string(SegmentName(segment)));
        !s.ok()) {
      return s;
    }
  }
  if (!(policy.risk_precision > 0 && policy.risk_precision <= 1)) {
    return absl::InvalidArgumentError("alert policy: the risk precision must be in (0, 1]");
  }
  if (!(policy.marketing.control_share >= 0 && policy.marketing.control_share <= 0.5)) {
    return absl::InvalidArgumentError("alert policy: the control share must be in [0, 0.5]");
  }
  if (policy.marketing.outcome_window <= Micros(0)) {
    return absl::InvalidArgumentError("alert policy: the outcome window must be positive");
  }
  if (policy.marketing.max_contacts_30d > kMaxContacts30dLimit) {
    return absl::InvalidArgumentError("alert policy: the contacts in 30 days may be at most " +
                                      std::to_string(kMaxContacts30dLimit));
  }
  for (int c = 1; c < kChannelCount; ++c) {
    const double cost = policy.channel_cost[c];
    if (!std::isfinite(cost) || cost <= 0) {
      return absl::InvalidArgumentError("alert policy: the cost of " +
                                        std::string(ChannelName(static_cast<Channel>(c))) +
                                        " must be positive");
    }
  }
  return absl::OkStatus();
}

std::string AlertId(const CustomerId& id, std::uint64_t n) {
  char text[48];
  std::snprintf(text, sizeof text, "%016llx-%llu",
                static_cast<unsigned long long>(EventIdHash(id.value())),
                static_cast<unsigned long long>(n));
  return text;
}

AlertOutcome UpdateAlert(const CustomerId& id, double churn, Segment segment, Timestamp now,
                         const AlertPolicy& policy, AlertState& state) {
  const AlertThresholds& t = policy.For(segment);
  AlertOutcome outcome;
  outcome.previous_churn = state.last_churn;
  state.last_churn = churn;
  if (state.open) {
    if (churn < t.clear) {
      state.open = false;
      outcome.transition = AlertTransition::kCleared;
      outcome.alert_id = AlertId(id, state.raised);
    }
    return outcome;
  }
  const bool cooling = state.raised_at && now < *state.raised_at + t.cooldown;
  if (churn >= t.raise && !cooling) {
    state.open = true;
    ++state.raised;
    state.raised_at = now;
    outcome.transition = AlertTransition::kRaised;
    outcome.alert_id = AlertId(id, state.raised);
  }
  return outcome;
}

RecommendedAction RecommendAction(ValueQuadrant quadrant, LifecycleStage stage, double churn,
                                  const AlertThresholds& thresholds) {
  const bool valuable = quadrant == ValueQuadrant::kDesirable || quadrant == ValueQuadrant::kMature;
  if (stage == LifecycleStage::kLost) {
    return valuable ? RecommendedAction::kReactivate : RecommendedAction::kNone;
  }
  if (stage == LifecycleStage::kDevelopment && churn >= thresholds.raise) {
    return RecommendedAction::kOnboard;
  }
  switch (quadrant) {
    case ValueQuadrant::kDesirable:
    case ValueQuadrant::kMature:
      return churn >= thresholds.raise ? RecommendedAction::kWinBack : RecommendedAction::kRetain;
    case ValueQuadrant::kUnderDeveloped:
      return RecommendedAction::kDevelop;
    case ValueQuadrant::kUndesirable:
      return RecommendedAction::kNone;
  }
  return RecommendedAction::kNone;
}

bool IsPersonalChannel(Channel channel) {
  return channel == Channel::kPhone || channel == Channel::kFaceToFace;
}

Channel RecommendedChannel(const CustomerState& state, double value_at_risk,
                           const AlertPolicy& policy) {
  bool personal_only = false;
  if (value_at_risk >= policy.personal_contact_value) {
    for (int c = 1; c < kChannelCount; ++c) {
      personal_only = personal_only || (IsPersonalChannel(static_cast<Channel>(c)) &&
                                        state.channels[c].consent == true);
    }
  }
  Channel best = Channel::kUnspecified;
  double best_value = 0;
  for (int c = 1; c < kChannelCount; ++c) {
    const ChannelStats& channel = state.channels[c];
    if (channel.consent != true) continue;
    if (personal_only && !IsPersonalChannel(static_cast<Channel>(c))) continue;
    const double value = (static_cast<double>(channel.contacts) + 1) / policy.channel_cost[c];
    const bool cheaper_tie =
        value == best_value && policy.channel_cost[c] < policy.channel_cost[static_cast<int>(best)];
    if (value > best_value || cheaper_tie) {
      best = static_cast<Channel>(c);
      best_value = value;
    }
  }
  return best;
}

namespace {

// A secant search's looks, at most, before the bracket must have halved.
constexpr int kLooksToHalve = 4;

// The level whose crossing is a change when churn moves in `direction` (±1)
// from the last look's: the nearest of last ± precision and the raise or
// clear threshold.
double LevelOfChange(const AlertState& state, const AlertThresholds& thresholds, double precision,
                     double direction) {
  double level = state.last_churn + direction * precision;
  if (direction > 0 && !state.open && thresholds.raise > state.last_churn) {
    level = std::min(level, thresholds.raise);
  }
  if (direction < 0 && state.open && thresholds.clear < state.last_churn) {
    level = std::max(level, thresholds.clear);
  }
  return level;
}

}  // namespace

Timestamp NextLook(const std::function<double(Timestamp)>& churn_at, Timestamp now,
                   const AlertState& state, const AlertThresholds& thresholds, double precision,
                   Micros horizon) {
  const Timestamp cooled =
      !state.open && state.raised_at ? *state.raised_at + thresholds.cooldown : now;
  // Whether a look at `t`, whose churn is `churn`, would change anything.
  const auto changes = [&](Timestamp t, double churn) {
    if (std::fabs(churn - state.last_churn) >= precision) return true;
    if (state.open) return churn < thresholds.clear;
    return churn >= thresholds.raise && t >= cooled;
  };
  const Timestamp until = now + horizon;
  double churn_hi = churn_at(until);
  if (!changes(until, churn_hi)) return until;
  Timestamp lo = now, hi = until;  // the change happens in (lo, hi]
  double churn_lo = state.last_churn;
  // A raise held back by the cooldown is due the moment it ends, if not before.
  if (cooled > now && cooled < until) {
    const double churn = churn_at(cooled);
    if (changes(cooled, churn)) {
      hi = cooled;
      churn_hi = churn;
    }
  }
  // The level whose crossing is the change, in the direction churn moves to
  // reach `hi`; g is churn's distance past it.
  double direction = 0, level = 0, g_lo = 0, g_hi = 0;
  int kept_lo = 0, kept_hi = 0;
  const auto aim = [&] {
    direction = churn_hi >= state.last_churn ? 1 : -1;
    level = LevelOfChange(state, thresholds, precision, direction);
    g_lo = direction * (churn_lo - level);
    g_hi = direction * (churn_hi - level);
    kept_lo = kept_hi = 0;
  };
  aim();
  // Illinois (regula falsi that halves the weight of an end kept twice) on g,
  // the predicate deciding each side: a few looks at churn where bisection to
  // the hour takes a dozen. Two guards keep it from crawling: a secant look
  // landing within the hour of where its own slope puts the crossing is
  // followed by a look one hour back across it, which closes the bracket if
  // it was right; and a bracket not halved by kLooksToHalve looks is halved by
  // the next (churn steps at midnight, where a secant is no guide). Where
  // churn crosses no level (a raise waiting for the cooldown), bisection.
  const Micros hour = std::chrono::hours(1);
  Timestamp across = now;   // that look when it lies inside the bracket
  Micros halved = hi - lo;  // the bracket's width when it last halved
  int looks_since_halved = 0;
  while (hi - lo > hour) {
    const Micros width = hi - lo;
    if (width <= halved / 2) {
      halved = width;
      looks_since_halved = 0;
    }
    const bool probe = across > lo && across < hi;
    const bool secant = !probe && g_lo < 0 && g_hi > 0 && looks_since_halved < kLooksToHalve;
    Timestamp mid = lo + width / 2;
    if (probe) {
      mid = across;
    } else if (secant) {
      const double fraction = -g_lo / (g_hi - g_lo);
      const Micros margin = std::max<Micros>(width / 64, std::chrono::minutes(1));
      mid = std::clamp(lo + std::chrono::duration_cast<Micros>(width * fraction), lo + margin,
                       hi - margin);
    }
    ++looks_since_halved;
    across = now;
    const double churn = churn_at(mid);
    const double g = direction * (churn - level);
    const bool change = changes(mid, churn);
    if (secant && (g > 0) == change) {
      // Where the line from the far end through this look puts the crossing.
      const double g_far = change ? g_lo : g_hi;
      const Timestamp far = change ? lo : hi;
      const double offset = -g * static_cast<double>((mid - far).count()) / (g - g_far);
      if (std::fabs(offset) < static_cast<double>(hour.count())) {
        across = change ? mid - hour : mid + hour;
      }
    }
    if (change) {
      hi = mid;
      churn_hi = churn;
      if ((churn >= state.last_churn) != (direction > 0)) {
        aim();  // the first change found moves churn the other way: aim at that
        continue;
      }
      g_hi = std::max(g, 1e-12);
      kept_hi = 0;
      if (++kept_lo >= 2) g_lo /= 2;
    } else {
      lo = mid;
      churn_lo = churn;
      g_lo = std::min(g, -1e-12);
      kept_lo = 0;
      if (++kept_hi >= 2) g_hi /= 2;
    }
  }
  return hi;
}

}  // namespace crm
