#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/bgnbd.h"
#include "core/gamma_gamma.h"
#include "core/pareto_nbd.h"

// Offline model fitting: maximum-likelihood estimation of the customer models
// of core/ (BG/NBD, Pareto/NBD, Gamma-Gamma), a regularised logistic regression, and the
// metrics used to judge a ranking (AUC, calibration). Runs in the training
// tool, never on the event path. All functions are pure and thread-compatible;
// NLopt exceptions are caught here and become absl::Status values.
namespace crm::training {

// The outcome of one maximisation.
struct FitResult {
  std::vector<double> params;  // at the best point found
  double log_likelihood = 0;   // the objective there
  int evaluations = 0;         // objective evaluations, over all starts
  std::string message;         // NLopt's result code, or the exception's text
  bool ok = false;             // false if no start reached a finite objective
};

// Maximises `log_likelihood` over strictly positive parameters by optimising
// their logarithms with NLopt's derivative-free LN_NELDERMEAD, from each of
// `starts` (each polished by one restart from its optimum). The objective may
// return -inf or NaN for infeasible points; those are treated as the worst.
// REQUIRES: every start has the same, non-zero size and positive entries.
FitResult MaximizePositive(const std::function<double(std::span<const double>)>& log_likelihood,
                           const std::vector<std::vector<double>>& starts);

struct BgNbdFit {
  BgNbdParams params;
  double log_likelihood = 0;  // summed over the histories
  int evaluations = 0;
};

// Maximum likelihood of the BG/NBD model (the sum of BgNbdLogLikelihood) over
// `histories`. Returns InvalidArgument for no histories or one with x < 0 or
// t_x outside [0, T]; Internal if the optimiser fails.
absl::StatusOr<BgNbdFit> FitBgNbd(std::span<const BgNbdHistory> histories);

struct ParetoNbdFit {
  ParetoNbdParams params;
  double log_likelihood = 0;  // summed over the histories
  int evaluations = 0;
};

// Maximum likelihood of the Pareto/NBD model (the sum of
// ParetoNbdLogLikelihood) over `histories`, which are first grouped by
// identical (x, t_x, T) so each distinct history costs one likelihood.
// Returns InvalidArgument for no histories or one with x < 0 or t_x outside
// [0, T]; Internal if the optimiser fails.
absl::StatusOr<ParetoNbdFit> FitParetoNbd(std::span<const BgNbdHistory> histories);

// A customer's spend: x repeat transactions of mean value m_x.
struct SpendHistory {
  double x = 0, m_x = 0;
};

struct GammaGammaFit {
  GammaGammaParams params;
  double log_likelihood = 0;  // summed over the customers used
  int customers = 0;          // used: x >= 1 and m_x > 0
  int skipped = 0;            // the others
};

// Maximum likelihood of the Gamma-Gamma model over the repeat customers of
// `customers` (x >= 1, m_x > 0; the others are skipped and counted). Returns
// InvalidArgument if no customer is usable; Internal if the optimiser fails.
absl::StatusOr<GammaGammaFit> FitGammaGamma(std::span<const SpendHistory> customers);

struct LogisticFit {
  double intercept = 0;
  std::vector<double> weights;  // one per raw feature
  double log_loss = 0;          // weighted mean log loss on the data, without the penalty
};

// L2-regularised logistic regression. Minimises
//   Σ_i w_i logloss(y_i, σ(b + β·x_i)) / Σ_i w_i + (l2 / 2) |β|²,
// the intercept b not penalised, by NLopt LD_LBFGS with the analytic gradient
// (on internally standardised features; the result is for the raw features).
// `rows` are feature vectors without the intercept, `labels` 0 or 1, and
// `row_weights` empty (all 1) or one non-negative weight per row.
// Returns InvalidArgument for no rows, mismatched sizes, ragged rows, labels
// other than 0/1, negative weights or l2 < 0; Internal if the optimiser fails.
absl::StatusOr<LogisticFit> FitLogistic(const std::vector<std::vector<double>>& rows,
                                        std::span<const int> labels, double l2,
                                        std::span<const double> row_weights = {});

// Area under the ROC curve of `scores` (higher = more likely positive) for 0/1
// `labels`, ties counted half (the Mann-Whitney statistic). Returns NaN when
// the sizes differ or either class is empty.
double Auc(std::span<const double> scores, std::span<const int> labels);

struct CalibrationBin {
  double mean_predicted = 0;
  double observed_rate = 0;
  int count = 0;
};

// `bins` equal-count bins of `predicted` probability (ascending; sizes differ
// by at most one, fewer bins if there are fewer predictions), each with its
// mean prediction and observed positive rate. Returns an empty table when the
// sizes differ, there is no prediction or bins < 1.
std::vector<CalibrationBin> CalibrationTable(std::span<const double> predicted,
                                             std::span<const int> labels, int bins);

}  // namespace crm::training
