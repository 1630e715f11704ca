#include "core/gamma_gamma.h"

#include <cmath>

namespace crm {

double GammaGammaExpectedSpend(const GammaGammaParams& p, double x, double m_x) {
  if (x <= 0) return p.p * p.gamma / (p.q - 1);
  return (p.gamma + x * m_x) * p.p / (p.p * x + p.q - 1);
}

double GammaGammaLogLikelihood(const GammaGammaParams& p, double x, double m_x) {
  const double px = p.p * x;
  return std::lgamma(px + p.q) - std::lgamma(px) - std::lgamma(p.q) + p.q * std::log(p.gamma) +
         (px - 1) * std::log(m_x) + px * std::log(x) - (px + p.q) * std::log(p.gamma + m_x * x);
}

}  // namespace crm
