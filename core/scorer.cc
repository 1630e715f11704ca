#include "core/scorer.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "core/features.h"
#include "core/marketing.h"
#include "core/reasons.h"

namespace crm {

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

LifecycleStage Lifecycle(const CustomerState& state, Timestamp as_of, double p_alive,
                         const LifecycleParams& p) {
  if (state.purchase_days.empty() || !state.last_purchase) return LifecycleStage::kProspect;
  if (p_alive < p.lost_p_alive) return LifecycleStage::kLost;
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

double CostToServe(const CustomerState& state, const ValueParams& value) {
  double cost = 0;
  for (int c = 1; c < kChannelCount; ++c) {
    cost += static_cast<double>(state.channels[c].contacts) * value.contact_cost[c];
  }
  return cost + static_cast<double>(state.returns) * value.return_cost +
         static_cast<double>(state.complaints) * value.complaint_cost;
}

std::vector<Channel> ContactableChannels(const CustomerState& state) {
  std::vector<Channel> channels;
  for (int c = 1; c < kChannelCount; ++c) {
    if (state.channels[c].consent.value_or(false)) channels.push_back(static_cast<Channel>(c));
  }
  return channels;
}

ValueQuadrant QuadrantOf(double past_profitability, double potential, const ValueParams& p) {
  const bool profitable = past_profitability >= p.profitability_threshold;
  const bool promising = potential >= p.potential_threshold;
  if (profitable) return promising ? ValueQuadrant::kDesirable : ValueQuadrant::kMature;
  return promising ? ValueQuadrant::kUnderDeveloped : ValueQuadrant::kUndesirable;
}

Scorer::Scorer(Model model) : model_(std::move(model)) {
  const LogisticModel& churn = model_.churn.logistic;
  for (std::size_t i = 0; i < kChurnFeatureNames.size(); ++i) {
    if (auto w = churn.weights.find(kChurnFeatureNames[i]); w != churn.weights.end()) {
      churn_weights_[i] = w->second;
    }
    if (auto m = churn.means.find(kChurnFeatureNames[i]); m != churn.means.end()) {
      churn_means_[i] = m->second;
    }
    if (churn_weights_[i] != 0) churn_needs_ |= ChurnFeatureNeeds(i);
  }
}

double Scorer::Churn(const CustomerState& state, Timestamp as_of, OutlookMemo* memo) const {
  return ChurnCurve(*this, state, memo).At(as_of);
}

ChurnCurve::ChurnCurve(const Scorer& scorer, const CustomerState& state, OutlookMemo* memo)
    : scorer_(scorer),
      state_(state),
      fixed_(FixedFactsOf(state, scorer.model_)),
      memo_(memo != nullptr ? memo : &own_memo_) {}

double ChurnCurve::At(Timestamp as_of) {
  // EvaluateLogistic's probability, without the contributions, summed in the
  // same order.
  CustomerFacts facts = fixed_;
  AddTimedFacts(state_, as_of, scorer_.model_, scorer_.churn_needs_, facts, memo_);
  double z = scorer_.model_.churn.logistic.intercept;
  for (std::size_t i = 0; i < scorer_.churn_weights_.size(); ++i) {
    if (scorer_.churn_weights_[i] == 0) continue;
    const double value = ChurnFeature(facts, i);
    if (std::isnan(value)) continue;  // missing: at the mean, as EvaluateLogistic
    z += scorer_.churn_weights_[i] * (value - scorer_.churn_means_[i]);
  }
  return 1 / (1 + std::exp(-z));
}

AppetenceByProduct Scorer::Appetence(const CustomerState& state, Timestamp as_of,
                                     OutlookMemo* memo) const {
  AppetenceByProduct appetence;
  if (model_.appetence.empty()) return appetence;
  // The facts the appetence features read: the fixed ones, recency and
  // tenure, and p_alive (not the CLV, the costliest).
  CustomerFacts facts = FixedFactsOf(state, model_);
  AddTimedFacts(state, as_of, model_, kNeedBgNbd, facts, memo);
  for (const AppetenceModel& offer : model_.appetence) {
    const ProductFacts product = ProductFactsOf(state, as_of, offer, model_);
    appetence[offer.product] =
        EvaluateLogistic(offer.logistic, kAppetenceFeatureNames, AppetenceFeatures(facts, product))
            .probability;
  }
  return appetence;
}

Scores Scorer::Score(const CustomerId& id, const CustomerState& state, Timestamp as_of,
                     const PopulationView* population) const {
  Scores scores;
  scores.customer_id = id;
  scores.as_of = as_of;
  scores.events_applied = state.events_applied;
  scores.model_version = model_.version;

  const CustomerFacts facts = FactsOf(state, as_of, model_);
  RfmValues& rfm = scores.rfm;
  rfm.frequency = facts.transactions;
  rfm.purchases = state.purchases;
  rfm.revenue = facts.revenue;
  rfm.monetary = facts.monetary;
  rfm.recency_days = facts.recency_days;
  // The customer's place in the population; a prospect has none (and no product bought).
  const std::optional<PopulationEntry> entry = PopulationEntryOf(state);
  if (entry) {
    rfm.product_types =
        static_cast<std::uint32_t>(entry->values[static_cast<int>(PopulationAxis::kProductTypes)]);
  }
  if (population != nullptr) {
    if (entry) {
      const auto score = [&](PopulationAxis axis) {
        return population->Score(axis, entry->values[static_cast<int>(axis)]);
      };
      rfm.r_score = score(PopulationAxis::kLastPurchaseDay);
      rfm.f_score = score(PopulationAxis::kFrequency);
      rfm.m_score = score(PopulationAxis::kMonetary);
      rfm.t_score = score(PopulationAxis::kProductTypes);
    }
    scores.segment = population->AbcSegment(facts.revenue);
  }

  scores.p_alive = facts.p_alive;
  scores.expected_purchases = facts.expected_purchases;
  scores.expected_spend = facts.expected_spend;
  scores.past_profitability = facts.past_profitability;
  scores.clv = facts.clv;
  scores.quadrant = QuadrantOf(facts.past_profitability, facts.clv, model_.value);
  scores.cost_to_serve = CostToServe(state, model_.value);
  scores.lifetime_value = facts.past_profitability - scores.cost_to_serve + facts.clv;
  scores.contactable_channels = ContactableChannels(state);
  scores.latest_satisfaction = facts.latest_satisfaction;
  scores.complaints_90d = static_cast<std::uint32_t>(facts.complaints_recent);
  scores.campaign_contacts_30d = CampaignContacts30d(state, as_of);
  scores.control = state.alert.open && state.alert.control;

  scores.churn_horizon_days = model_.churn.horizon_days;
  const ReasonLimits limits{model_.max_reasons, model_.min_reason_weight};
  if (facts.has_purchase) {  // a prospect has nothing to lose yet
    const std::vector<double> churn_features = ChurnFeatures(facts);
    const LogisticScore churn =
        EvaluateLogistic(model_.churn.logistic, kChurnFeatureNames, churn_features);
    scores.churn = churn.probability;
    scores.value_at_risk = churn.probability * facts.clv_if_active;
    scores.reasons =
        ToScoreReasons(ChurnReasons(model_.churn.logistic, churn_features, facts, limits));
  }

  for (const AppetenceModel& offer : model_.appetence) {
    const ProductFacts product = ProductFactsOf(state, as_of, offer, model_);
    const std::vector<double> features = AppetenceFeatures(facts, product);
    const LogisticScore appetence =
        EvaluateLogistic(offer.logistic, kAppetenceFeatureNames, features);
    scores.appetence[offer.product] = appetence.probability;
    scores.appetence_details.push_back(
        {offer.product, appetence.probability,
         ToScoreReasons(
             AppetenceReasons(offer.logistic, features, facts, product, offer.product, limits))});
  }

  scores.lifecycle_stage = Lifecycle(state, as_of, facts.p_alive, model_.lifecycle);
  scores.preferred_channel = PreferredChannel(state);
  return scores;
}

}  // namespace crm
