#include "services/training/fitting.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <map>
#include <numeric>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "nlopt.hpp"

namespace crm::training {
namespace {

constexpr double kXtolRel = 1e-10;
constexpr int kMaxEvaluations = 20000;
// Log-parameters are kept in [-kLogBound, kLogBound] so exp() stays finite.
constexpr double kLogBound = 30;
// What an infeasible point costs the minimiser: finite, worse than any real one.
constexpr double kInfeasible = 1e300;

// The negated log-likelihood in log-parameter space, remembering the best point
// seen, so a run that ends in an exception still yields its optimum.
struct LogSpaceObjective {
  const std::function<double(std::span<const double>)>* log_likelihood;
  std::vector<double> params;
  std::vector<double> best_log_params;
  double best = kInfeasible;
  int evaluations = 0;

  double operator()(const std::vector<double>& log_params) {
    ++evaluations;
    for (size_t i = 0; i < log_params.size(); ++i) params[i] = std::exp(log_params[i]);
    const double value = -(*log_likelihood)(params);
    if (!std::isfinite(value)) return kInfeasible;
    if (value < best) {
      best = value;
      best_log_params = log_params;
    }
    return value;
  }
};

double CallLogSpace(const std::vector<double>& x, std::vector<double>& /*grad*/, void* data) {
  return (*static_cast<LogSpaceObjective*>(data))(x);
}

// Runs one local Nelder-Mead search from `log_start`; returns NLopt's verdict.
std::string RunNelderMead(LogSpaceObjective& objective, std::vector<double> log_start) {
  const unsigned n = static_cast<unsigned>(log_start.size());
  try {
    nlopt::opt opt(nlopt::LN_NELDERMEAD, n);
    opt.set_min_objective(&CallLogSpace, &objective);
    opt.set_lower_bounds(-kLogBound);
    opt.set_upper_bounds(kLogBound);
    opt.set_initial_step(0.5);
    opt.set_xtol_rel(kXtolRel);
    opt.set_maxeval(kMaxEvaluations);
    double value = 0;
    const nlopt::result result = opt.optimize(log_start, value);
    return nlopt_result_to_string(static_cast<nlopt_result>(result));
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace

FitResult MaximizePositive(const std::function<double(std::span<const double>)>& log_likelihood,
                           const std::vector<std::vector<double>>& starts) {
  FitResult result;
  if (starts.empty() || starts.front().empty()) {
    result.message = "no start";
    return result;
  }
  LogSpaceObjective objective{&log_likelihood, std::vector<double>(starts.front().size())};
  for (const std::vector<double>& start : starts) {
    std::vector<double> log_start(start.size());
    std::transform(start.begin(), start.end(), log_start.begin(),
                   [](double v) { return std::clamp(std::log(v), -kLogBound, kLogBound); });
    result.message = RunNelderMead(objective, log_start);
    // A simplex can stall on a ridge; restarting from its optimum costs little.
    if (!objective.best_log_params.empty()) {
      result.message = RunNelderMead(objective, objective.best_log_params);
    }
  }
  result.evaluations = objective.evaluations;
  result.ok = !objective.best_log_params.empty();
  if (!result.ok) return result;
  result.params.resize(objective.best_log_params.size());
  std::transform(objective.best_log_params.begin(), objective.best_log_params.end(),
                 result.params.begin(), [](double v) { return std::exp(v); });
  result.log_likelihood = -objective.best;
  return result;
}

absl::StatusOr<BgNbdFit> FitBgNbd(std::span<const BgNbdHistory> histories) {
  if (histories.empty()) return absl::InvalidArgumentError("FitBgNbd: no histories");
  for (const BgNbdHistory& h : histories) {
    if (!(h.x >= 0 && h.t_x >= 0 && h.t_x <= h.T)) {
      return absl::InvalidArgumentError("FitBgNbd: a history has x < 0 or t_x outside [0, T]");
    }
  }
  const auto log_likelihood = [histories](std::span<const double> v) {
    const BgNbdParams params{v[0], v[1], v[2], v[3]};
    double sum = 0;
    for (const BgNbdHistory& h : histories) sum += BgNbdLogLikelihood(params, h);
    return sum;
  };
  const FitResult fit = MaximizePositive(log_likelihood, {{1, 1, 1, 1}, {0.5, 10, 0.5, 2}});
  if (!fit.ok) return absl::InternalError("FitBgNbd: optimiser failed: " + fit.message);
  return BgNbdFit{{fit.params[0], fit.params[1], fit.params[2], fit.params[3]},
                  fit.log_likelihood,
                  fit.evaluations};
}

namespace {

// Distinct histories and how many customers share each.
std::vector<std::pair<BgNbdHistory, double>> Grouped(std::span<const BgNbdHistory> histories) {
  std::map<std::tuple<double, double, double>, double> counts;
  for (const BgNbdHistory& h : histories) counts[{h.x, h.t_x, h.T}] += 1;
  std::vector<std::pair<BgNbdHistory, double>> out;
  out.reserve(counts.size());
  for (const auto& [key, count] : counts) {
    out.push_back({{std::get<0>(key), std::get<1>(key), std::get<2>(key)}, count});
  }
  return out;
}

}  // namespace

absl::StatusOr<ParetoNbdFit> FitParetoNbd(std::span<const BgNbdHistory> histories) {
  if (histories.empty()) return absl::InvalidArgumentError("FitParetoNbd: no histories");
  for (const BgNbdHistory& h : histories) {
    if (!(h.x >= 0 && h.t_x >= 0 && h.t_x <= h.T)) {
      return absl::InvalidArgumentError("FitParetoNbd: a history has x < 0 or t_x outside [0, T]");
    }
  }
  const std::vector<std::pair<BgNbdHistory, double>> grouped = Grouped(histories);
  const auto log_likelihood = [&grouped](std::span<const double> v) {
    const ParetoNbdParams params{v[0], v[1], v[2], v[3]};
    double sum = 0;
    for (const auto& [h, count] : grouped) sum += count * ParetoNbdLogLikelihood(params, h);
    return sum;
  };
  const FitResult fit = MaximizePositive(log_likelihood, {{1, 1, 1, 1}, {0.5, 10, 0.5, 10}});
  if (!fit.ok) return absl::InternalError("FitParetoNbd: optimiser failed: " + fit.message);
  return ParetoNbdFit{{fit.params[0], fit.params[1], fit.params[2], fit.params[3]},
                      fit.log_likelihood,
                      fit.evaluations};
}

absl::StatusOr<GammaGammaFit> FitGammaGamma(std::span<const SpendHistory> customers) {
  std::vector<SpendHistory> used;
  for (const SpendHistory& c : customers) {
    if (c.x >= 1 && c.m_x > 0) used.push_back(c);
  }
  if (used.empty()) return absl::InvalidArgumentError("FitGammaGamma: no repeat customer");
  const auto log_likelihood = [&used](std::span<const double> v) {
    const GammaGammaParams params{v[0], v[1], v[2]};
    double sum = 0;
    for (const SpendHistory& c : used) sum += GammaGammaLogLikelihood(params, c.x, c.m_x);
    return sum;
  };
  const FitResult fit = MaximizePositive(log_likelihood, {{1, 1, 1}, {5, 5, 20}});
  if (!fit.ok) return absl::InternalError("FitGammaGamma: optimiser failed: " + fit.message);
  return GammaGammaFit{{fit.params[0], fit.params[1], fit.params[2]},
                       fit.log_likelihood,
                       static_cast<int>(used.size()),
                       static_cast<int>(customers.size() - used.size())};
}

namespace {

// log(1 + e^z) without overflow.
double Softplus(double z) { return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z)); }

// The penalised weighted mean log loss on standardised features x̃ = (x - mean) / scale,
// with the penalty on the raw weights β_j = v_j / scale_j.
struct LogisticObjective {
  const std::vector<std::vector<double>>* rows;
  std::span<const int> labels;
  std::vector<double> weights;  // per row, sums to 1
  std::vector<double> mean, scale;
  double l2;
  double log_loss = 0;  // at the last evaluation, without the penalty

  // v = (intercept, v_1..v_d).
  double operator()(const std::vector<double>& v, std::vector<double>& grad) {
    const size_t d = mean.size();
    if (!grad.empty()) std::fill(grad.begin(), grad.end(), 0.0);
    log_loss = 0;
    for (size_t i = 0; i < rows->size(); ++i) {
      const std::vector<double>& row = (*rows)[i];
      double z = v[0];
      for (size_t j = 0; j < d; ++j) z += v[j + 1] * (row[j] - mean[j]) / scale[j];
      // -log σ(z) = softplus(-z); -log(1 - σ(z)) = softplus(z).
      log_loss += weights[i] * (labels[i] == 1 ? Softplus(-z) : Softplus(z));
      if (grad.empty()) continue;
      const double residual = weights[i] * (1 / (1 + std::exp(-z)) - labels[i]);
      grad[0] += residual;
      for (size_t j = 0; j < d; ++j) grad[j + 1] += residual * (row[j] - mean[j]) / scale[j];
    }
    double penalty = 0;
    for (size_t j = 0; j < d; ++j) {
      const double s2 = scale[j] * scale[j];
      penalty += 0.5 * l2 * v[j + 1] * v[j + 1] / s2;
      if (!grad.empty()) grad[j + 1] += l2 * v[j + 1] / s2;
    }
    return log_loss + penalty;
  }
};

double CallLogistic(const std::vector<double>& x, std::vector<double>& grad, void* data) {
  return (*static_cast<LogisticObjective*>(data))(x, grad);
}

}  // namespace

absl::StatusOr<LogisticFit> FitLogistic(const std::vector<std::vector<double>>& rows,
                                        std::span<const int> labels, double l2,
                                        std::span<const double> row_weights) {
  if (rows.empty()) return absl::InvalidArgumentError("FitLogistic: no rows");
  if (labels.size() != rows.size() || (!row_weights.empty() && row_weights.size() != rows.size())) {
    return absl::InvalidArgumentError("FitLogistic: rows, labels and weights differ in size");
  }
  if (!(l2 >= 0)) return absl::InvalidArgumentError("FitLogistic: l2 < 0");
  const size_t d = rows.front().size();
  LogisticObjective objective{&rows,
                              labels,
                              std::vector<double>(rows.size(), 1.0),
                              std::vector<double>(d, 0.0),
                              std::vector<double>(d, 0.0),
                              l2};
  double total_weight = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].size() != d) return absl::InvalidArgumentError("FitLogistic: ragged rows");
    if (labels[i] != 0 && labels[i] != 1) {
      return absl::InvalidArgumentError("FitLogistic: a label is not 0 or 1");
    }
    if (!row_weights.empty()) {
      if (!(row_weights[i] >= 0)) return absl::InvalidArgumentError("FitLogistic: weight < 0");
      objective.weights[i] = row_weights[i];
    }
    total_weight += objective.weights[i];
  }
  if (!(total_weight > 0)) return absl::InvalidArgumentError("FitLogistic: all weights are 0");
  for (double& w : objective.weights) w /= total_weight;

  // Weighted mean and standard deviation per feature; a constant feature keeps scale 1.
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < d; ++j) objective.mean[j] += objective.weights[i] * rows[i][j];
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < d; ++j) {
      const double centred = rows[i][j] - objective.mean[j];
      objective.scale[j] += objective.weights[i] * centred * centred;
    }
  }
  for (double& s : objective.scale) s = s > 0 ? std::sqrt(s) : 1.0;

  std::vector<double> v(d + 1, 0.0);
  try {
    nlopt::opt opt(nlopt::LD_LBFGS, static_cast<unsigned>(d + 1));
    opt.set_min_objective(&CallLogistic, &objective);
    opt.set_xtol_rel(kXtolRel);
    opt.set_ftol_rel(1e-15);
    opt.set_maxeval(kMaxEvaluations);
    double value = 0;
    opt.optimize(v, value);
  } catch (const nlopt::roundoff_limited&) {
    // Converged as far as doubles allow; `v` holds the best point.
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("FitLogistic: optimiser failed: ") + e.what());
  }

  std::vector<double> no_grad;
  LogisticFit fit;
  objective(v, no_grad);
  fit.log_loss = objective.log_loss;
  fit.intercept = v[0];
  fit.weights.resize(d);
  for (size_t j = 0; j < d; ++j) {
    fit.weights[j] = v[j + 1] / objective.scale[j];
    fit.intercept -= fit.weights[j] * objective.mean[j];
  }
  return fit;
}

double Auc(std::span<const double> scores, std::span<const int> labels) {
  if (scores.size() != labels.size()) return std::numeric_limits<double>::quiet_NaN();
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t i, size_t j) { return scores[i] < scores[j]; });
  // Sum of the positives' mid-ranks (1-based), ties sharing their average rank.
  double positive_rank_sum = 0;
  double positives = 0;
  for (size_t begin = 0; begin < order.size();) {
    size_t end = begin;
    while (end < order.size() && scores[order[end]] == scores[order[begin]]) ++end;
    const double mid_rank = (static_cast<double>(begin + 1) + static_cast<double>(end)) / 2;
    for (size_t k = begin; k < end; ++k) {
      if (labels[order[k]] == 1) {
        positive_rank_sum += mid_rank;
        positives += 1;
      }
    }
    begin = end;
  }
  const double negatives = static_cast<double>(scores.size()) - positives;
  if (positives == 0 || negatives == 0) return std::numeric_limits<double>::quiet_NaN();
  return (positive_rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}

std::vector<CalibrationBin> CalibrationTable(std::span<const double> predicted,
                                             std::span<const int> labels, int bins) {
  std::vector<CalibrationBin> table;
  if (predicted.size() != labels.size() || predicted.empty() || bins < 1) return table;
  std::vector<size_t> order(predicted.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t i, size_t j) { return predicted[i] < predicted[j]; });
  const size_t n = order.size();
  const size_t count = std::min(n, static_cast<size_t>(bins));
  for (size_t b = 0; b < count; ++b) {
    const size_t begin = b * n / count, end = (b + 1) * n / count;
    CalibrationBin bin;
    for (size_t k = begin; k < end; ++k) {
      bin.mean_predicted += predicted[order[k]];
      bin.observed_rate += labels[order[k]] == 1 ? 1 : 0;
    }
    bin.count = static_cast<int>(end - begin);
    bin.mean_predicted /= bin.count;
    bin.observed_rate /= bin.count;
    table.push_back(bin);
  }
  return table;
}

}  // namespace crm::training
