#include "core/scorer.h"

#include <algorithm>
#include <array>

namespace crm {

std::string_view LifecycleStageName(LifecycleStage stage) {
  static constexpr std::array<std::string_view, 4> kNames = {"PROSPECT", "DEVELOPMENT", "MATURITY",
                                                             "DECLINE"};
  return kNames[static_cast<std::size_t>(stage)];
}

Channel PreferredChannel(const CustomerState& state) {
  Channel best = Channel::kUnspecified;
  std::uint64_t best_count = 0;
  std::optional<Timestamp> best_last;
  for (int c = 1; c < kChannelCount; ++c) {
    const ChannelStats& stats = state.channels[c];
    if (stats.contacts == 0) continue;
    const bool better = stats.contacts > best_count ||
                        (stats.contacts == best_count && stats.last_contact > best_last);
    if (better) {
      best = static_cast<Channel>(c);
      best_count = stats.contacts;
      best_last = stats.last_contact;
    }
  }
  return best;
}

LifecycleStage Lifecycle(const CustomerState& state, Timestamp as_of, const LifecycleParams& p) {
  if (state.purchase_days.empty() || !state.last_purchase) return LifecycleStage::kProspect;
  const double idle_days = std::max(0.0, DaysBetween(*state.last_purchase, as_of));
  const std::size_t transactions = state.purchase_days.size();
  if (transactions == 1) {
    return idle_days > p.single_purchase_decline_days ? LifecycleStage::kDecline
                                                      : LifecycleStage::kDevelopment;
  }
  const double span_days = state.purchase_days.back() - state.purchase_days.front();
  const double rhythm_days = span_days / static_cast<double>(transactions - 1);
  if (idle_days > std::max(p.decline_min_days, p.decline_rhythm_factor * rhythm_days)) {
    return LifecycleStage::kDecline;
  }
  return static_cast<int>(transactions) >= p.maturity_min_transactions
             ? LifecycleStage::kMaturity
             : LifecycleStage::kDevelopment;
}

Scores Scorer::Score(const CustomerId& id, const CustomerState& state, Timestamp as_of) const {
  Scores scores;
  scores.customer_id = id;
  scores.as_of = as_of;
  scores.events_applied = state.events_applied;
  scores.model_version = model_.version;

  RfmValues& rfm = scores.rfm;
  rfm.frequency = state.transactions();
  rfm.purchases = state.purchases;
  rfm.revenue = state.purchase_amount - state.return_amount;
  rfm.monetary = rfm.frequency == 0 ? 0 : rfm.revenue / static_cast<double>(rfm.frequency);
  if (state.last_purchase) {
    rfm.recency_days = std::max(0.0, DaysBetween(*state.last_purchase, as_of));
  }
  rfm.product_types = static_cast<std::uint32_t>(
      std::count_if(state.products.begin(), state.products.end(),
                    [](const auto& entry) { return entry.second.purchases > 0; }));

  scores.lifecycle_stage = Lifecycle(state, as_of, model_.lifecycle);
  scores.preferred_channel = PreferredChannel(state);
  return scores;
}

}  // namespace crm
