#include "core/pareto_nbd.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace crm {
namespace {

// The likelihood L = Γ(r+x) α^r β^s / Γ(r) · (A + B), where
//   A = (α+T)^-(r+x) (β+T)^-s                       (alive at T),
//   B = s / (r+s+x) · A0                             (died in (t_x, T]),
//   A0 = F(t_x) - F(T), with, for α >= β,
//     F(u) = 2F1(r+s+x, s+1; r+s+x+1; (α-β)/(α+u)) / (α+u)^(r+s+x)
//   and for α < β
//     F(u) = 2F1(r+s+x, r+x; r+s+x+1; (β-α)/(β+u)) / (β+u)^(r+s+x).
// Kept as logarithms: log A and log(A + B).
struct LogTerms {
  double log_alive = 0;  // log A
  double log_sum = 0;    // log(A + B)
};

// log F(u). The 2F1 goes through Euler's transformation
// 2F1(a, b; a+1; z) = (1-z)^(1-b) 2F1(1, a+1-b; a+1; z), whose series has
// positive terms shrinking at least as fast as z^n: no overflow for long
// histories, where 2F1(a, r+x; …) itself grows like (1-z)^-(r+x).
double LogF(const ParetoNbdParams& p, double x, double u) {
  const double a = p.r + p.s + x;
  const bool alpha_high = p.alpha >= p.beta;
  const double base = alpha_high ? p.alpha + u : p.beta + u;
  const double z = std::fabs(p.alpha - p.beta) / base;
  const double b = alpha_high ? p.s + 1 : p.r + x;
  return (1 - b) * std::log1p(-z) + std::log(Hypergeometric2F1(1, a + 1 - b, a + 1, z)) -
         a * std::log(base);
}

// The terms of `h`, given log F(t_x), which does not move with T.
LogTerms TermsOf(const ParetoNbdParams& p, const ParetoNbdHistory& h, double log_f_tx) {
  LogTerms terms;
  terms.log_alive = -(p.r + h.x) * std::log(p.alpha + h.T) - p.s * std::log(p.beta + h.T);
  const double log_f_T = LogF(p, h.x, h.T);
  // B = s/(r+s+x) F(t_x) (1 - F(T)/F(t_x)); F decreases, so B >= 0.
  const double dead_share = std::max(0.0, -std::expm1(log_f_T - log_f_tx));
  const double log_b = dead_share > 0
                           ? std::log(p.s / (p.r + p.s + h.x)) + log_f_tx + std::log(dead_share)
                           : -std::numeric_limits<double>::infinity();
  const double high = std::max(terms.log_alive, log_b);
  terms.log_sum = high + std::log(std::exp(terms.log_alive - high) + std::exp(log_b - high));
  return terms;
}

LogTerms TermsOf(const ParetoNbdParams& p, const ParetoNbdHistory& h) {
  return TermsOf(p, h, LogF(p, h.x, h.t_x));
}

double LogConstant(const ParetoNbdParams& p, const ParetoNbdHistory& h) {
  return std::lgamma(p.r + h.x) - std::lgamma(p.r) + p.r * std::log(p.alpha) +
         p.s * std::log(p.beta);
}

double ExpectedIfAlive(const ParetoNbdParams& p, const ParetoNbdHistory& h, double t) {
  // E[(1 - e^(-μt)) / μ] for μ ~ Gamma(s, β+T), times E[λ] = (r+x)/(α+T).
  const double b = p.beta + h.T;
  const double log_ratio = std::log(b / (b + t));  // <= 0
  const double per_rate =
      p.s == 1 ? -b * log_ratio : b * -std::expm1((p.s - 1) * log_ratio) / (p.s - 1);
  return (p.r + h.x) / (p.alpha + h.T) * per_rate;
}

double NoTransaction(const ParetoNbdParams& p, const ParetoNbdHistory& h, double t, double log_sum,
                     double log_f_tx) {
  const ParetoNbdHistory later{h.x, h.t_x, h.T + t};
  // The Γ(r+x) α^r β^s / Γ(r) constants cancel.
  return std::min(1.0, std::exp(TermsOf(p, later, log_f_tx).log_sum - log_sum));
}

}  // namespace

double ParetoNbdProbabilityAlive(const ParetoNbdParams& p, const ParetoNbdHistory& h) {
  const LogTerms terms = TermsOf(p, h);
  return std::exp(terms.log_alive - terms.log_sum);
}

double ParetoNbdExpectedTransactions(const ParetoNbdParams& p, const ParetoNbdHistory& h,
                                     double t) {
  return ParetoNbdProbabilityAlive(p, h) * ExpectedIfAlive(p, h, t);
}

double ParetoNbdExpectedTransactionsIfAlive(const ParetoNbdParams& p, const ParetoNbdHistory& h,
                                            double t) {
  return ExpectedIfAlive(p, h, t);
}

double ParetoNbdProbabilityNoTransaction(const ParetoNbdParams& p, const ParetoNbdHistory& h,
                                         double t) {
  return ParetoNbdOutlookOf(p, h, t).p_no_transaction;
}

ParetoNbdOutlook ParetoNbdOutlookOf(const ParetoNbdParams& p, const ParetoNbdHistory& h, double t) {
  const double log_f_tx = LogF(p, h.x, h.t_x);  // once for T and T + t
  const LogTerms terms = TermsOf(p, h, log_f_tx);
  ParetoNbdOutlook outlook;
  outlook.p_alive = std::exp(terms.log_alive - terms.log_sum);
  outlook.expected_transactions = outlook.p_alive * ExpectedIfAlive(p, h, t);
  outlook.p_no_transaction = NoTransaction(p, h, t, terms.log_sum, log_f_tx);
  return outlook;
}

double ParetoNbdLogLikelihood(const ParetoNbdParams& p, const ParetoNbdHistory& h) {
  return LogConstant(p, h) + TermsOf(p, h).log_sum;
}

}  // namespace crm
