#pragma once

// crm-train's pipeline: a historical touchpoint log in, a model file and a
// report out. The history is cut at the calibration end: customers' states as
// of then (built with the service's own ApplyTouchpoint, so features are the
// ones served) are the inputs; what they did after it, within the horizon,
// are the labels.

#include <cstdint>
#include <functional>
#include <istream>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/customer_id.h"
#include "core/model.h"
#include "core/time.h"
#include "core/touchpoint.h"
#include "services/training/fitting.h"

namespace crm::training {

// Every touchpoint of a log, by customer, and the product catalogue seen in it.
struct TrainingLog {
  std::map<CustomerId, std::vector<Touchpoint>> customers;
  // Product → category, from the "category" attribute of touchpoints.
  std::map<std::string, std::string, std::less<>> catalogue;
  std::optional<Timestamp> last_event;
  std::uint64_t lines = 0;  // non-empty lines read
  std::uint64_t rejected = 0;
  std::vector<std::string> errors;  // the first few bad lines, "line N: why"
};

// Reads JSON lines (the protobuf JSON mapping of crm.v1.Touchpoint, as
// crm-touch reads). Bad lines are counted and described, not fatal; `progress`
// (may be empty) is called every 100,000 lines with the count so far.
TrainingLog ReadTrainingLog(std::istream& in,
                            const std::function<void(std::uint64_t)>& progress = {});

struct TrainOptions {
  // The calibration period ends with this UTC day (its touchpoints included);
  // features are computed as of its start, 00:00 UTC, as the literature does.
  Timestamp calibration_end{};
  TimeUnit time_unit = TimeUnit::kWeek;
  bool merge_same_day = true;
  // The purchase model the written model selects, and the churn and
  // appetence weights are fitted on; both are fitted and reported.
  PurchaseModelKind purchase_model = PurchaseModelKind::kBgNbd;
  // Labels look this far past the calibration end; 0: to the log's last day.
  double horizon_days = 0;
  double l2 = 1e-3;  // logistic penalty, on standardised features
  std::string version = "trained";
  std::string description;
  ValueParams value;  // margin, discount rate, CLV horizon (thresholds are fitted)
  // Offers need this many buyers within the horizon to get an appetence model.
  int min_product_buyers = 20;
  // Without an evaluation log, this share of the customers (chosen by a hash
  // of their id) is held out of the churn fit to measure its AUC.
  double validation_share = 0.2;
};

struct ChurnReport {
  double horizon_days = 0;
  std::int64_t train_customers = 0;
  std::int64_t evaluation_customers = 0;
  double base_rate = 0;               // share of evaluation customers who churned
  double auc = 0;                     // the churn model
  double auc_recency = 0;             // baseline: days since the last purchase
  double auc_expected_purchases = 0;  // baseline: fewer expected purchases (selected model)
  double auc_p_no_purchase = 0;       // baseline: P(no purchase in the horizon) (selected model)
  double log_loss = 0;                // on the evaluation customers
  std::vector<CalibrationBin> calibration;
  std::string evaluated_on;  // "evaluation log" or "held-out 20 % of the customers"
};

struct AppetenceReport {
  std::string product;
  std::int64_t buyers = 0;  // in the horizon, among the training customers
  double auc = 0;           // on the evaluation customers
};

// What the churn model reaches on one purchase model's features, on the
// evaluation customers.
struct PurchaseModelAucs {
  double churn = 0;               // the churn model, its weights fitted on this model
  double expected_purchases = 0;  // baseline: fewer expected purchases
  double p_no_purchase = 0;       // baseline: P(no purchase in the horizon)
};

struct TrainReport {
  PurchaseModelKind purchase_model = PurchaseModelKind::kBgNbd;  // the one selected
  BgNbdFit bgnbd;
  std::int64_t bgnbd_customers = 0;  // also Pareto/NBD's: the same histories
  PurchaseModelAucs bgnbd_aucs;
  ParetoNbdFit pareto_nbd;
  PurchaseModelAucs pareto_nbd_aucs;
  GammaGammaFit gamma_gamma;
  ChurnReport churn;
  std::vector<AppetenceReport> appetence;
};

struct Trained {
  Model model;
  TrainReport report;
};

// Fits every part of the model on `train`; measures churn and appetence on
// `evaluate` when given (else on held-out customers of `train`).
absl::StatusOr<Trained> Train(const TrainingLog& train, const TrainingLog* evaluate,
                              const TrainOptions& options);

// The report as text for people, and as JSON (keys purchase_model,
// bgnbd{r, alpha, a, b, log_likelihood, churn_auc, …}, pareto_nbd{r, alpha, s,
// beta, log_likelihood, churn_auc, …}, gamma_gamma{p, q, gamma, …},
// churn{auc, …}, appetence[…]).
std::string ReportText(const TrainReport& report);
std::string ReportJson(const TrainReport& report);

}  // namespace crm::training
