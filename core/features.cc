#include "core/features.h"

#include <algorithm>
#include <cmath>

#include "core/gamma_gamma.h"

namespace crm {
namespace {

// Steps of the CLV sum.
constexpr double kClvStepDays = 30;

double Log1p(double v) { return std::log1p(std::max(0.0, v)); }

// How far `channel`'s activity has fallen off as of `as_of`: 0 (steady or
// rising, or too little history to say) to 1 (stopped).
double ActivityDecline(const ChannelStats& channel, Timestamp as_of) {
  if (!channel.last_contact) return 0;
  const double elapsed = std::max(0.0, DaysBetween(*channel.last_contact, as_of));
  const double recent = channel.recent_activity * std::exp(-elapsed / kRecentActivityDays);
  const double usual = channel.usual_activity * std::exp(-elapsed / kUsualActivityDays);
  const double expected_recent = usual * kRecentActivityDays / kUsualActivityDays;
  if (expected_recent < 1) return 0;
  return std::clamp(1 - recent / expected_recent, 0.0, 1.0);
}

}  // namespace

namespace {

// x and t_x: the history without the time it is observed for.
BgNbdHistory RepeatHistoryOf(const CustomerState& state, const PurchaseModel& model) {
  const double unit = DaysPerUnit(model.time_unit);
  BgNbdHistory h;
  if (model.merge_same_day) {
    h.x = static_cast<double>(state.purchase_days.size() - 1);
    h.t_x = (state.purchase_days.back() - state.purchase_days.front()) / unit;
  } else {
    h.x = static_cast<double>(state.purchases - 1);
    h.t_x = DaysBetween(*state.first_purchase, *state.last_purchase) / unit;
  }
  return h;
}

// T as of `as_of`: purchases later than as_of are still counted, so T >= t_x.
double ObservedFor(const CustomerState& state, Timestamp as_of, const PurchaseModel& model,
                   double t_x) {
  const double unit = DaysPerUnit(model.time_unit);
  const double T = model.merge_same_day ? (DayNumber(as_of) - state.purchase_days.front()) / unit
                                        : DaysBetween(*state.first_purchase, as_of) / unit;
  return std::max(T, t_x);
}

}  // namespace

BgNbdHistory PurchaseHistoryOf(const CustomerState& state, Timestamp as_of,
                               const PurchaseModel& model) {
  BgNbdHistory h = RepeatHistoryOf(state, model);
  h.T = ObservedFor(state, as_of, model, h.t_x);
  return h;
}

PurchaseOutlook PurchaseOutlookOf(const PurchaseModel& model, const BgNbdHistory& history,
                                  double t) {
  if (model.kind == PurchaseModelKind::kParetoNbd) {
    const ParetoNbdOutlook o = ParetoNbdOutlookOf(model.pareto_nbd, history, t);
    return {o.p_alive, o.expected_transactions, o.p_no_transaction};
  }
  const BgNbdOutlook o = BgNbdOutlookOf(model.bgnbd, history, t);
  return {o.p_alive, o.expected_transactions, o.p_no_transaction};
}

double ClvIfActive(const BgNbdHistory& history, double expected_spend,
                   const PurchaseModel& purchase, const ValueParams& value) {
  const double unit = DaysPerUnit(purchase.time_unit);
  const bool pareto = purchase.kind == PurchaseModelKind::kParetoNbd;
  const auto expected_by = [&](double days) {
    return pareto ? ParetoNbdExpectedTransactionsIfAlive(purchase.pareto_nbd, history, days / unit)
                  : BgNbdExpectedTransactionsIfAlive(purchase.bgnbd, history, days / unit);
  };
  const int steps = std::max(1, static_cast<int>(std::ceil(value.clv_horizon_days / kClvStepDays)));
  const double step_days = value.clv_horizon_days / steps;
  double total = 0, previous = 0;
  for (int i = 1; i <= steps; ++i) {
    const double days = step_days * i;
    const double expected = expected_by(days);
    const double discount = std::pow(1 + value.annual_discount_rate, -days / 365.25);
    total += (expected - previous) * discount;
    previous = expected;
  }
  return value.margin * expected_spend * total;
}

CustomerFacts FixedFactsOf(const CustomerState& state, const Model& model) {
  const PurchaseModel& purchase = model.purchase;
  CustomerFacts f;
  f.has_purchase = state.purchases > 0 && !state.purchase_days.empty();
  f.revenue = state.purchase_amount - state.return_amount;
  f.past_profitability = model.value.margin * f.revenue;
  f.returns = state.returns;
  f.campaign_responses = state.campaign_responses;
  f.return_rate = state.purchases == 0 ? 0
                                       : std::min(1.0, static_cast<double>(state.returns) /
                                                           static_cast<double>(state.purchases));
  if (f.has_purchase) {
    const double unit = DaysPerUnit(purchase.time_unit);
    f.transactions = purchase.merge_same_day ? state.purchase_days.size() : state.purchases;
    f.history = RepeatHistoryOf(state, purchase);
    if (f.history.x > 0) f.rhythm_days = f.history.t_x * unit / f.history.x;
    f.monetary = f.revenue / static_cast<double>(f.transactions);
    if (state.purchase_days.size() > 1) {
      f.repeat_spend = (state.purchase_amount - state.first_day_amount) /
                       static_cast<double>(state.purchase_days.size() - 1);
    }
  }
  // The purchase models start at the first purchase: a prospect expects no
  // transaction yet, and would spend the population's mean.
  f.expected_spend = GammaGammaExpectedSpend(purchase.gamma_gamma, f.history.x,
                                             f.repeat_spend > 0 ? f.repeat_spend : 0);
  return f;
}

void AddTimedFacts(const CustomerState& state, Timestamp as_of, const Model& model, unsigned needs,
                   CustomerFacts& f, OutlookMemo* memo) {
  const PurchaseModel& purchase = model.purchase;
  const double unit = DaysPerUnit(purchase.time_unit);
  if (f.has_purchase) {
    f.history.T = ObservedFor(state, as_of, purchase, f.history.t_x);
    f.recency_days = std::max(0.0, DaysBetween(*state.last_purchase, as_of));
    f.tenure_days = f.history.T * unit;
    if ((needs & kNeedBgNbd) != 0) {
      const bool same = memo != nullptr && memo->held && memo->history.x == f.history.x &&
                        memo->history.t_x == f.history.t_x && memo->history.T == f.history.T;
      const PurchaseOutlook outlook =
          same ? memo->outlook
               : PurchaseOutlookOf(purchase, f.history, model.churn.horizon_days / unit);
      if (memo != nullptr) *memo = {f.history, outlook, true};
      f.p_alive = outlook.p_alive;
      f.expected_purchases = outlook.expected_transactions;
      f.p_no_purchase = outlook.p_no_transaction;
    }
    if ((needs & kNeedValue) != 0) {
      // Net of returns: the share of what the customer bought that they kept.
      const double kept =
          state.purchase_amount > 0
              ? std::clamp(1 - state.return_amount / state.purchase_amount, 0.0, 1.0)
              : 1.0;
      f.clv_if_active = kept * ClvIfActive(f.history, f.expected_spend, purchase, model.value);
      const double p_alive =
          (needs & kNeedBgNbd) != 0 ? f.p_alive : PurchaseOutlookOf(purchase, f.history, 0).p_alive;
      f.clv = p_alive * f.clv_if_active;
    }
  } else if (state.first_seen) {
    f.tenure_days = std::max(0.0, DaysBetween(*state.first_seen, as_of));
  }

  const std::int32_t today = DayNumber(as_of);
  if ((needs & kNeedRecentPurchases) != 0) {
    f.transactions_180d = f.transactions_90d = 0;
    for (auto day = state.purchase_days.rbegin(); day != state.purchase_days.rend(); ++day) {
      if (*day > today) continue;
      if (today - *day > 180) break;
      ++f.transactions_180d;
      if (today - *day <= 90) ++f.transactions_90d;
    }
  }
  if ((needs & kNeedComplaints) != 0) {
    f.complaints_recent = 0;
    f.days_since_complaint.reset();
    for (Timestamp t : state.recent_complaints) {
      const double days = DaysBetween(t, as_of);
      if (days < 0) continue;  // later than as_of
      if (!f.days_since_complaint) f.days_since_complaint = days;
      if (days <= kComplaintWindowDays) ++f.complaints_recent;
    }
  }
  if ((needs & kNeedSatisfaction) != 0) {
    f.latest_satisfaction.reset();
    for (const SatisfactionSample& s : state.recent_satisfaction) {
      if (s.at <= as_of) {
        f.latest_satisfaction = s.score;
        break;
      }
    }
  }
  if ((needs & kNeedContacts) != 0) {
    f.contact_decline = 0;
    f.declining_channel = Channel::kUnspecified;
    for (int c = 1; c < kChannelCount; ++c) {
      const double decline = ActivityDecline(state.channels[c], as_of);
      if (decline > f.contact_decline) {
        f.contact_decline = decline;
        f.declining_channel = static_cast<Channel>(c);
      }
    }
  }
  if ((needs & kNeedCancellation) != 0) {
    f.days_since_cancellation.reset();
    if (state.last_cancellation && *state.last_cancellation <= as_of) {
      f.days_since_cancellation = DaysBetween(*state.last_cancellation, as_of);
    }
  }
}

CustomerFacts FactsOf(const CustomerState& state, Timestamp as_of, const Model& model,
                      bool with_value) {
  CustomerFacts f = FixedFactsOf(state, model);
  AddTimedFacts(state, as_of, model, with_value ? kNeedAll : kNeedAll & ~kNeedValue, f);
  return f;
}

double ChurnFeature(const CustomerFacts& f, std::size_t feature) {
  const double recency = f.has_purchase ? f.recency_days : f.tenure_days;
  const auto rhythm = [&] {
    return f.rhythm_days > 0 ? f.rhythm_days : std::max(f.tenure_days, 30.0);
  };
  switch (feature) {
    case 0:
      return std::log(0.05 + f.expected_purchases);
    case 1:
      return f.p_alive;
    case 2:
      return std::min(10.0, recency / std::max(rhythm(), 1.0));
    case 3:
      return Log1p(recency);
    case 4:
      return Log1p(static_cast<double>(f.transactions));
    case 5:
      return Log1p(f.monetary);
    case 6:
      return Log1p(f.tenure_days);
    case 7:
      return static_cast<double>(f.complaints_recent);
    case 8:
      return f.latest_satisfaction ? (10.0 - *f.latest_satisfaction) / 10.0 : kMissingFeature;
    case 9:
      return f.contact_decline;
    case 10:
      return f.days_since_cancellation && *f.days_since_cancellation <= kCancellationWindowDays
                 ? 1.0
                 : 0.0;
    case 11:
      return f.return_rate;
    case 12:
      return Log1p(f.transactions_90d);
    case 13:
      return Log1p(f.transactions_180d);
    case 14:
      return f.transactions == 1 ? 1.0 : 0.0;
    case 15:
      return Log1p(recency) * Log1p(static_cast<double>(f.transactions));
    case 16: {
      const double p = std::clamp(f.p_no_purchase, 0.001, 0.999);
      return std::log(p / (1 - p));
    }
    default:
      return 0;
  }
}

unsigned ChurnFeatureNeeds(std::size_t feature) {
  switch (feature) {
    case 0:
    case 1:
    case 16:
      return kNeedBgNbd;
    case 7:
      return kNeedComplaints;
    case 8:
      return kNeedSatisfaction;
    case 9:
      return kNeedContacts;
    case 10:
      return kNeedCancellation;
    case 12:
    case 13:
      return kNeedRecentPurchases;
    default:
      return 0;  // fixed, or the recency and tenure every look works out
  }
}

std::vector<double> ChurnFeatures(const CustomerFacts& f) {
  std::vector<double> features(kChurnFeatureNames.size());
  for (std::size_t i = 0; i < features.size(); ++i) features[i] = ChurnFeature(f, i);
  return features;
}

ProductFacts ProductFactsOf(const CustomerState& state, Timestamp as_of,
                            const AppetenceModel& offer, const Model& model) {
  ProductFacts p;
  if (auto it = state.products.find(offer.product); it != state.products.end()) {
    const ProductStats& stats = it->second;
    p.interactions = stats.interactions;
    if (stats.last_interaction) {
      p.days_since_interaction = std::max(0.0, DaysBetween(*stats.last_interaction, as_of));
    }
    p.owns = Owns(stats);
  }
  if (!offer.category.empty()) {
    for (const auto& [product, stats] : state.products) {
      if (product == offer.product) continue;
      auto category = model.catalogue.find(product);
      if (category != model.catalogue.end() && category->second == offer.category) {
        p.related_purchases += stats.purchases;
      }
    }
  }
  return p;
}

std::vector<double> AppetenceFeatures(const CustomerFacts& f, const ProductFacts& p) {
  const double interest = p.days_since_interaction
                              ? Log1p(static_cast<double>(p.interactions)) *
                                    std::exp(-*p.days_since_interaction / kInterestDecayDays)
                              : 0.0;
  return {
      interest,
      p.owns ? 1.0 : 0.0,
      Log1p(static_cast<double>(p.related_purchases)),
      Log1p(static_cast<double>(f.campaign_responses)),
      Log1p(f.has_purchase ? f.recency_days : f.tenure_days),
      Log1p(static_cast<double>(f.transactions)),
      Log1p(f.monetary),
      f.p_alive,
  };
}

LogisticScore EvaluateLogistic(const LogisticModel& model, std::span<const std::string_view> names,
                               std::span<const double> values) {
  LogisticScore score;
  double z = model.intercept;
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
    auto w = model.weights.find(names[i]);
    if (w == model.weights.end() || w->second == 0 || std::isnan(values[i])) continue;
    auto m = model.means.find(names[i]);
    const double contribution = w->second * (values[i] - (m == model.means.end() ? 0 : m->second));
    z += contribution;
    if (contribution != 0) score.contributions.push_back({i, contribution});
  }
  score.probability = 1 / (1 + std::exp(-z));
  std::stable_sort(score.contributions.begin(), score.contributions.end(),
                   [](const Contribution& a, const Contribution& b) {
                     return std::fabs(a.weight) > std::fabs(b.weight);
                   });
  return score;
}

}  // namespace crm
