#include "core/bgnbd.h"

#include <cmath>

namespace crm {
namespace {

double LogBeta(double a, double b) { return std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b); }

}  // namespace

double Hypergeometric2F1(double a, double b, double c, double z) {
  double term = 1, sum = 1;
  for (int n = 0; n < 100000; ++n) {
    term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z;
    sum += term;
    if (std::fabs(term) < 1e-15 * std::fabs(sum)) break;
  }
  return sum;
}

namespace {

// The odds that the customer dropped out after their last transaction; 0
// before any repeat transaction (nobody drops out at the first).
double OddsDead(const BgNbdParams& p, const BgNbdHistory& h) {
  if (h.x <= 0) return 0;
  return p.a / (p.b + h.x - 1) * std::pow((p.alpha + h.T) / (p.alpha + h.t_x), p.r + h.x);
}

// P(no transaction in the next `t` units | alive).
double QuietIfAlive(const BgNbdParams& p, const BgNbdHistory& h, double t) {
  return std::pow((p.alpha + h.T) / (p.alpha + h.T + t), p.r + h.x);
}

double ExpectedTransactions(const BgNbdParams& p, const BgNbdHistory& h, double t, double odds_dead,
                            double quiet_if_alive) {
  const double hyper =
      Hypergeometric2F1(p.r + h.x, p.b + h.x, p.a + p.b + h.x - 1, t / (p.alpha + h.T + t));
  const double numerator = (p.a + p.b + h.x - 1) / (p.a - 1) * (1 - quiet_if_alive * hyper);
  return numerator / (1 + odds_dead);
}

double NoTransaction(double alive, double quiet_if_alive) {
  return 1 - alive + alive * quiet_if_alive;
}

}  // namespace

double BgNbdProbabilityAlive(const BgNbdParams& p, const BgNbdHistory& h) {
  if (h.x <= 0) return 1;
  return 1 / (1 + OddsDead(p, h));
}

double BgNbdExpectedTransactions(const BgNbdParams& p, const BgNbdHistory& h, double t) {
  return ExpectedTransactions(p, h, t, OddsDead(p, h), QuietIfAlive(p, h, t));
}

double BgNbdExpectedTransactionsIfAlive(const BgNbdParams& p, const BgNbdHistory& h, double t) {
  return ExpectedTransactions(p, h, t, 0, QuietIfAlive(p, h, t));
}

double BgNbdProbabilityNoTransaction(const BgNbdParams& p, const BgNbdHistory& h, double t) {
  return NoTransaction(BgNbdProbabilityAlive(p, h), QuietIfAlive(p, h, t));
}

BgNbdOutlook BgNbdOutlookOf(const BgNbdParams& p, const BgNbdHistory& h, double t) {
  const double odds_dead = OddsDead(p, h);
  const double quiet_if_alive = QuietIfAlive(p, h, t);
  BgNbdOutlook outlook;
  outlook.p_alive = h.x <= 0 ? 1 : 1 / (1 + odds_dead);
  outlook.expected_transactions = ExpectedTransactions(p, h, t, odds_dead, quiet_if_alive);
  outlook.p_no_transaction = NoTransaction(outlook.p_alive, quiet_if_alive);
  return outlook;
}

double BgNbdLogLikelihood(const BgNbdParams& p, const BgNbdHistory& h) {
  const double common = std::lgamma(p.r + h.x) - std::lgamma(p.r) + p.r * std::log(p.alpha);
  const double alive =
      LogBeta(p.a, p.b + h.x) - LogBeta(p.a, p.b) + common - (p.r + h.x) * std::log(p.alpha + h.T);
  if (h.x <= 0) return alive;
  const double dropped = LogBeta(p.a + 1, p.b + h.x - 1) - LogBeta(p.a, p.b) + common -
                         (p.r + h.x) * std::log(p.alpha + h.t_x);
  const double high = std::max(alive, dropped);
  return high + std::log(std::exp(alive - high) + std::exp(dropped - high));
}

}  // namespace crm
