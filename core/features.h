#pragma once

// The features the churn and appetence models read, derived from a customer's
// state as of a moment. The scorer and crm-train both compute them here, so a
// model is served on exactly the features it was trained on.

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bgnbd.h"
#include "core/customer_state.h"
#include "core/model.h"
#include "core/pareto_nbd.h"
#include "core/time.h"
#include "core/touchpoint.h"

namespace crm {

// Windows of the behavioural features, in days.
inline constexpr double kComplaintWindowDays = 90;
inline constexpr double kCancellationWindowDays = 90;
inline constexpr double kInterestDecayDays = 30;

// What the scorer knows about a customer at a moment, derived once from their
// state and the purchase model.
struct CustomerFacts {
  bool has_purchase = false;
  std::uint64_t transactions = 0;  // distinct purchase days (or purchases: merge_same_day)
  double recency_days = -1;        // since the last purchase; -1: never bought
  double rhythm_days = 0;          // mean days between transactions; 0: fewer than two
  double tenure_days = 0;          // since the first purchase (first touchpoint for prospects)
  BgNbdHistory history;            // (x, t_x, T) in the model's time unit
  double p_alive = 0;              // 0 for a prospect, who has not started buying
  double expected_purchases = 0;   // E[transactions] over the churn horizon; 0 for a prospect
  double p_no_purchase = 1;        // P(no transaction over the churn horizon)
  double monetary = 0;             // revenue net of returns per transaction
  double repeat_spend = 0;         // mean gross value of the repeat transactions
  double expected_spend = 0;       // Gamma-Gamma E[spend per transaction]
  double revenue = 0;              // purchases minus returns
  double past_profitability = 0;   // margin × revenue
  // The discounted margin of the purchases expected over the CLV horizon if
  // the customer is still active, net of their returns; 0 for a prospect.
  double clv_if_active = 0;
  double clv = 0;             // P(alive) × clv_if_active: the potential; 0 for a prospect
  int complaints_recent = 0;  // in the last kComplaintWindowDays
  std::optional<double> days_since_complaint;
  std::optional<std::int32_t> latest_satisfaction;
  double contact_decline = 0;  // 0 (steady or rising) to 1 (stopped), worst channel
  Channel declining_channel = Channel::kUnspecified;
  std::optional<double> days_since_cancellation;
  double return_rate = 0;     // returns per purchase
  int transactions_90d = 0;   // distinct purchase days in the last 90 days
  int transactions_180d = 0;  // … 180 days
  std::uint64_t returns = 0;
  std::uint64_t campaign_responses = 0;
};

// With `with_value` false, the CLV (the costliest fact, which no churn
// feature reads) is left at 0.
CustomerFacts FactsOf(const CustomerState& state, Timestamp as_of, const Model& model,
                      bool with_value = true);

// FactsOf in two steps, for many looks at one state: the facts that do not
// depend on as_of, then those that do. The facts that change with as_of come
// in groups; a caller that reads only some asks for those (the others keep
// what they had). FactsOf is the two steps with every group.
inline constexpr unsigned kNeedBgNbd = 1;            // p_alive, expected_purchases, p_no_purchase
inline constexpr unsigned kNeedValue = 2;            // clv_if_active, clv
inline constexpr unsigned kNeedRecentPurchases = 4;  // transactions_90d, transactions_180d
inline constexpr unsigned kNeedComplaints = 8;       // complaints_recent, days_since_complaint
inline constexpr unsigned kNeedSatisfaction = 16;    // latest_satisfaction
inline constexpr unsigned kNeedContacts = 32;        // contact_decline, declining_channel
inline constexpr unsigned kNeedCancellation = 64;    // days_since_cancellation
inline constexpr unsigned kNeedAll = kNeedBgNbd | kNeedValue | kNeedRecentPurchases |
                                     kNeedComplaints | kNeedSatisfaction | kNeedContacts |
                                     kNeedCancellation;
CustomerFacts FixedFactsOf(const CustomerState& state, const Model& model);

// The purchase history in the sense of BG/NBD, in `model`'s time unit: x
// repeat transactions, the last at t_x, observed for T, from the first
// transaction to `as_of`. With merge_same_day, times are whole UTC days.
// REQUIRES: state has a purchase.
BgNbdHistory PurchaseHistoryOf(const CustomerState& state, Timestamp as_of,
                               const PurchaseModel& model);

// What the purchase model `model.kind` selects says of a history over the
// next `t` units of the model's time unit.
struct PurchaseOutlook {
  double p_alive = 1;
  double expected_transactions = 0;
  double p_no_transaction = 1;
};
PurchaseOutlook PurchaseOutlookOf(const PurchaseModel& model, const BgNbdHistory& history,
                                  double t);

// The purchase model's outlook last worked out, and for which history. A
// search over time asks again for the same one: with merge_same_day, T moves
// by whole days.
struct OutlookMemo {
  BgNbdHistory history;
  PurchaseOutlook outlook;
  bool held = false;
};

// Recency, tenure and T are always worked out. With a `memo`, the purchase
// outlook is taken from it when its history is the same (the same bits) and
// kept there otherwise.
void AddTimedFacts(const CustomerState& state, Timestamp as_of, const Model& model, unsigned needs,
                   CustomerFacts& facts, OutlookMemo* memo = nullptr);

// The CLV of a customer known to be alive: margin × Σ over the horizon, in
// 30-day steps, of the transactions expected of each step if alive (under the
// model `purchase.kind` selects) × the expected spend, discounted to `as_of`.
// The CLV is P(alive) × this.
double ClvIfActive(const BgNbdHistory& history, double expected_spend,
                   const PurchaseModel& purchase, const ValueParams& value);

// Churn features, in this order (see docs/scores-and-models.md, "Scores").
inline constexpr std::array<std::string_view, 17> kChurnFeatureNames = {
    "log_expected_purchases",  // log(0.05 + E[transactions in the horizon])
    "p_alive",                 // probability alive (BG/NBD or Pareto/NBD)
    "recency_vs_rhythm",       // days since the last purchase / usual days between (≤ 10)
    "log_recency_days",        // log(1 + days since the last purchase)
    "log_transactions",        // log(1 + transactions)
    "log_monetary",            // log(1 + revenue per transaction)
    "log_tenure_days",         // log(1 + days since the first purchase)
    "recent_complaints",       // complaints in the last 90 days
    "dissatisfaction",         // (10 - latest satisfaction) / 10; missing without survey
    "contact_decline",         // recent vs usual activity, worst channel
    "recent_cancellation",     // 1 if a cancellation in the last 90 days
    "return_rate",             // returns per purchase
    "recent_transactions",     // log(1 + transactions in the last 90 days)
    "half_year_transactions",  // log(1 + transactions in the last 180 days)
    "one_time_buyer",          // 1 if a single transaction
    "recency_x_frequency",     // log_recency_days × log_transactions
    "logit_no_purchase",  // logit of the BG/NBD P(no purchase in the horizon), clamped to [0.001,
                          // 0.999]
};
// A feature whose fact is missing (no survey answered) is kMissingFeature
// (NaN): it has no value, so a model scores it at its mean (it contributes
// nothing, see EvaluateLogistic), training imputes the mean, and it never
// gives a reason.
inline constexpr double kMissingFeature = std::numeric_limits<double>::quiet_NaN();
std::vector<double> ChurnFeatures(const CustomerFacts& facts);
// ChurnFeatures(facts)[feature], alone.
double ChurnFeature(const CustomerFacts& facts, std::size_t feature);
// The groups of timed facts (kNeed…) `feature` reads.
unsigned ChurnFeatureNeeds(std::size_t feature);

// Appetence features for one product, in this order.
inline constexpr std::array<std::string_view, 8> kAppetenceFeatureNames = {
    "product_interest",    // log(1 + contacts and responses about it), fading over 30 days
    "owns_product",        // 1 if bought and not since cancelled or returned
    "related_purchases",   // log(1 + purchases of other products of its category)
    "campaign_responses",  // log(1 + campaign responses)
    "log_recency_days",    // as for churn; log(1 + tenure) for a prospect
    "log_transactions",   "log_monetary", "p_alive",
};
struct ProductFacts {
  std::uint64_t interactions = 0;
  std::optional<double> days_since_interaction;
  bool owns = false;
  std::uint64_t related_purchases = 0;
};
ProductFacts ProductFactsOf(const CustomerState& state, Timestamp as_of,
                            const AppetenceModel& offer, const Model& model);
std::vector<double> AppetenceFeatures(const CustomerFacts& facts, const ProductFacts& product);

// One feature's share of a logistic score: weight × (value − mean); a
// missing value (NaN) has none.
struct Contribution {
  std::size_t feature = 0;  // index in the feature names
  double weight = 0;        // signed, in log-odds
};

struct LogisticScore {
  double probability = 0;
  std::vector<Contribution> contributions;  // largest |weight| first, non-zero only
};
LogisticScore EvaluateLogistic(const LogisticModel& model, std::span<const std::string_view> names,
                               std::span<const double> values);

}  // namespace crm
