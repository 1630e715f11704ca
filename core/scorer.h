#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/customer_id.h"
#include "core/customer_state.h"
#include "core/features.h"
#include "core/lifecycle_stage.h"
#include "core/model.h"
#include "core/population.h"
#include "core/score_reason.h"
#include "core/segment.h"
#include "core/time.h"
#include "core/touchpoint.h"
#include "core/value_quadrant.h"

namespace crm {

struct RfmValues {
  double recency_days = -1;                   // -1: never bought
  std::uint64_t frequency = 0;                // transactions (distinct purchase days)
  double monetary = 0;                        // revenue per transaction
  int r_score = 0, f_score = 0, m_score = 0;  // 1-5 against the population; 0: unknown
  std::uint64_t purchases = 0;
  double revenue = 0;  // purchases minus returns
  std::uint32_t product_types = 0;
  int t_score = 0;  // 1-5 breadth of products bought against the population
};

// The propensity to buy one product of the model, and why.
struct AppetenceScore {
  std::string product;
  double probability = 0;
  std::vector<ScoreReason> reasons;
};

// The quadrant of the value matrix: profitable when past_profitability is at
// least p.profitability_threshold, promising when the potential is at least
// p.potential_threshold.
ValueQuadrant QuadrantOf(double past_profitability, double potential, const ValueParams& p);

// A customer's scores as of one moment.
struct Scores {
  CustomerId customer_id;
  Timestamp as_of{};
  std::optional<double> churn;  // unset for a prospect: nothing bought, nothing to lose
  double churn_horizon_days = 0;
  double p_alive = 0;
  double expected_purchases = 0;  // over the churn horizon
  double expected_spend = 0;      // per transaction
  std::map<std::string, double> appetence;
  std::vector<AppetenceScore> appetence_details;  // in model order
  RfmValues rfm;
  double past_profitability = 0;
  double clv = 0;  // the potential: discounted future margin, net of returns
  // churn × the CLV if the customer stays active: the margin lost if they go.
  double value_at_risk = 0;
  double cost_to_serve = 0;   // contacts by channel, returns, complaints (ValueParams)
  double lifetime_value = 0;  // past_profitability - cost_to_serve + clv
  Segment segment = Segment::kNone;
  ValueQuadrant quadrant = ValueQuadrant::kUndesirable;  // its strategy: ValueStrategy(quadrant)
  LifecycleStage lifecycle_stage = LifecycleStage::kProspect;
  Channel preferred_channel = Channel::kUnspecified;
  std::vector<Channel> contactable_channels;  // consent in force, in Channel order
  std::optional<std::int32_t> latest_satisfaction;
  std::uint32_t complaints_90d = 0;
  std::uint32_t campaign_contacts_30d = 0;  // contact pressure (CampaignContacts30d)
  bool control = false;                     // the open alert is in the control group
  std::vector<ScoreReason> reasons;
  std::uint64_t events_applied = 0;
  std::string model_version;
};

// Computes scores from a customer's state as of a moment, with one model.
// Pure and stateless: safe to call from any thread.
class Scorer {
 public:
  explicit Scorer(Model model);

  const Model& model() const { return model_; }

  // Time-dependent values (recency, probability alive, churn) are measured at
  // `as_of`; events later than `as_of` are still part of the aggregates. The
  // RFM/FRAT scores and the ABC segment are relative to `population` (0 and
  // Segment::kNone without one).
  Scores Score(const CustomerId& id, const CustomerState& state, Timestamp as_of,
               const PopulationView* population = nullptr) const;

  // The churn of Score alone. A `memo` (AddTimedFacts) shares the purchase
  // outlook between calls for one customer, with this scorer alone.
  double Churn(const CustomerState& state, Timestamp as_of, OutlookMemo* memo = nullptr) const;

  // The appetence of Score alone (without reasons), the same to the bit:
  // every product of the model. `memo` as for Churn.
  AppetenceByProduct Appetence(const CustomerState& state, Timestamp as_of,
                               OutlookMemo* memo = nullptr) const;

 private:
  friend class ChurnCurve;
  Model model_;
  // The churn model's weights and means in feature order, and the timed facts
  // its weighed features read, for Churn().
  std::array<double, kChurnFeatureNames.size()> churn_weights_{}, churn_means_{};
  unsigned churn_needs_ = 0;
};

// One customer's churn as a function of the time of the look, for searches
// over time: the facts that do not depend on it are worked out once, and of
// the others only those the model weighs. At(t) equals Scorer::Churn(state, t)
// and Score(…, t).churn to the bit. Holds references: the scorer and the
// state (and `memo`, when given) must outlive it, unchanged. One thread at a
// time: At() keeps the last purchase outlook it worked out for the next, in
// `memo` or its own.
class ChurnCurve {
 public:
  ChurnCurve(const Scorer& scorer, const CustomerState& state, OutlookMemo* memo = nullptr);
  double At(Timestamp as_of);

 private:
  const Scorer& scorer_;
  const CustomerState& state_;
  CustomerFacts fixed_;
  OutlookMemo own_memo_;
  OutlookMemo* memo_;
};

// The channel the customer uses most (every touchpoint but consent and profile
// counts once); ties go to the most recent. kUnspecified
// when the customer has no channel activity.
Channel PreferredChannel(const CustomerState& state);

// PROSPECT without a purchase; LOST when `p_alive` (the purchase model's, as
// of `as_of`) is below p.lost_p_alive; DECLINE when silent for longer than
// the customer's rhythm allows; MATURITY from p.maturity_min_transactions;
// DEVELOPMENT otherwise.
LifecycleStage Lifecycle(const CustomerState& state, Timestamp as_of, double p_alive,
                         const LifecycleParams& p);

// What serving the customer cost: their contacts on each channel, returns and
// complaints, at the costs of `value`.
double CostToServe(const CustomerState& state, const ValueParams& value);

// The channels whose consent is in force (the latest stated is a grant).
std::vector<Channel> ContactableChannels(const CustomerState& state);

}  // namespace crm
