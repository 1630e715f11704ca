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

double BgNbdProbabilityAlive(const BgNbdParams& p, const BgNbdHistory& h) {
  if (h.x <= 0) return 1;
  const double odds_dead =
      p.a / (p.b + h.x - 1) * std::pow((p.alpha + h.T) / (p.alpha + h.t_x), p.r + h.x);
  return 1 / (1 + odds_dead);
}

double BgNbdExpectedTransactions(const BgNbdParams& p, const BgNbdHistory& h, double t) {
  const double ratio = (p.alpha + h.T) / (p.alpha + h.T + t);
  const double hyper =
      Hypergeometric2F1(p.r + h.x, p.b + h.x, p.a + p.b + h.x - 1, t / (p.alpha + h.T + t));
  const double numerator =
      (p.a + p.b + h.x - 1) / (p.a - 1) * (1 - std::pow(ratio, p.r + h.x) * hyper);
  const double denominator =
      1 + (h.x > 0
               ? p.a / (p.b + h.x - 1) * std::pow((p.alpha + h.T) / (p.alpha + h.t_x), p.r + h.x)
               : 0);
  return numerator / denominator;
}

double BgNbdProbabilityNoTransaction(const BgNbdParams& p, const BgNbdHistory& h, double t) {
  const double alive = BgNbdProbabilityAlive(p, h);
  return 1 - alive + alive * std::pow((p.alpha + h.T) / (p.alpha + h.T + t), p.r + h.x);
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
