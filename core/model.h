#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "core/bgnbd.h"
#include "core/gamma_gamma.h"
#include "core/pareto_nbd.h"
#include "core/touchpoint.h"

namespace crm {

// Parameters of the lifecycle rules; see Lifecycle().
struct LifecycleParams {
  // Transactions (distinct purchase days) from which a customer is mature.
  int maturity_min_transactions = 3;
  // A repeat customer is in decline when the days since the last purchase
  // exceed this multiple of their own mean inter-purchase interval…
  double decline_rhythm_factor = 2.5;
  // …and at least this many days.
  double decline_min_days = 30;
  // A single-purchase customer is in decline after this many days.
  double single_purchase_decline_days = 90;
  // A customer is lost (held gone by the purchase model, no longer merely
  // leaving) when their probability of being alive falls below this, in [0, 1).
  double lost_p_alive = 0.1;
};

// The unit of time the purchase models were fitted in.
enum class TimeUnit : std::uint8_t { kDay, kWeek };
std::string_view TimeUnitName(TimeUnit unit);  // "day", "week"
double DaysPerUnit(TimeUnit unit);             // 1, 7

// Which buy-till-you-die model gives P(alive), the expected purchases, the
// probability of no purchase and the CLV's transactions.
enum class PurchaseModelKind : std::uint8_t {
  kBgNbd,      // BG/NBD: a customer drops out only at a transaction
  kParetoNbd,  // Pareto/NBD: a customer may drop out at any time
};
// "BG_NBD", "PARETO_NBD": the values of the model file's purchase.model.
std::string_view PurchaseModelKindName(PurchaseModelKind kind);
// The kind of a name above; nullopt for any other text.
std::optional<PurchaseModelKind> PurchaseModelKindFromName(std::string_view name);

// The buy-till-you-die purchase models: BG/NBD or Pareto/NBD (`kind`) for the
// number of future transactions and whether the customer is still alive,
// Gamma-Gamma for the value of a transaction.
struct PurchaseModel {
  TimeUnit time_unit = TimeUnit::kWeek;
  // Purchases on the same UTC calendar day count as one transaction (the
  // convention of the literature); otherwise every purchase is one.
  bool merge_same_day = true;
  // Built in: Pareto/NBD, under which a one-time buyer who has been silent for
  // long is probably gone (BG/NBD holds anyone without a repeat purchase alive
  // for sure). A model file's purchase section defaults to BG_NBD.
  PurchaseModelKind kind = PurchaseModelKind::kParetoNbd;
  // Published CDNOW estimates (Fader, Hardie & Lee 2005; Fader & Hardie 2013)
  // until a trained model is loaded; both are validated, `kind` says which is used.
  BgNbdParams bgnbd{.r = 0.243, .alpha = 4.414, .a = 0.793, .b = 2.426};
  ParetoNbdParams pareto_nbd{.r = 0.553, .alpha = 10.578, .s = 0.606, .beta = 11.669};
  GammaGammaParams gamma_gamma{.p = 6.25, .q = 3.74, .gamma = 15.44};
};

// Lifetime value and the value matrix.
struct ValueParams {
  double margin = 0.3;                // share of revenue that is profit, (0, 1]
  double annual_discount_rate = 0.1;  // for the CLV, >= 0
  double clv_horizon_days = 365;      // future value counted over this horizon, > 0
  // The value quadrant splits customers on past profitability (margin on
  // purchases net of returns) and potential (the CLV) at these thresholds.
  double profitability_threshold = 50;
  double potential_threshold = 50;
  // The cost to serve: a cost per contact on each channel (indexed by
  // Channel: every touchpoint on it but consent and profile changes, from
  // handling a purchase to answering a call), per return and per complaint,
  // in currency units, each >= 0.
  std::array<double, kChannelCount> contact_cost = {0, 4, 0.1, 0.1, 0.5, 1.5, 0.1, 8, 1, 0.1};
  double return_cost = 5;
  double complaint_cost = 10;
};

// A logistic score: P = 1 / (1 + exp(-(intercept + Σ w_i (f_i - mean_i)))).
// Features are named (see features.h); a feature without a weight weighs 0.
// `means` centre the features so that each contribution says how far this
// customer is from the average one of the training set; the reason codes are
// the largest contributions.
struct LogisticModel {
  double intercept = 0;
  std::map<std::string, double, std::less<>> weights;
  std::map<std::string, double, std::less<>> means;
};

// Churn: the probability of no purchase (or of a cancellation) within the
// horizon.
struct ChurnModel {
  double horizon_days = 90;
  LogisticModel logistic;
};

// Appetence for one product or offer: the probability of buying it within
// the horizon.
struct AppetenceModel {
  std::string product;   // the product code of purchase touchpoints
  std::string category;  // purchases of other products in it are "related"
  LogisticModel logistic;
};

// Every parameter the scorer uses, with the version stamped on each score.
// Built-in defaults stand until a model file is loaded (see model_file.h in
// services/ for the file format).
struct Model {
  std::string version = "builtin-2";
  LifecycleParams lifecycle;
  PurchaseModel purchase;
  ValueParams value;
  ChurnModel churn = DefaultChurnModel();
  std::vector<AppetenceModel> appetence;
  // Product → category, for "related purchases"; products not listed have no
  // category.
  std::map<std::string, std::string, std::less<>> catalogue;
  // Reasons returned per score, most contributing first.
  int max_reasons = 3;
  // A contribution (in log-odds) below this is not worth a reason.
  double min_reason_weight = 0.05;

  static ChurnModel DefaultChurnModel();
};

// OK, or InvalidArgument naming the first bad parameter (non-positive model
// parameters, a margin outside (0, 1], an unknown feature name, an appetence
// product listed twice, …).
absl::Status ValidateModel(const Model& model);

}  // namespace crm
