#pragma once

namespace crm {

// The Gamma-Gamma model of monetary value (Fader, Hardie & Lee 2005, "RFM and
// CLV: Using Iso-value Curves"; Fader & Hardie 2013, "The Gamma-Gamma Model of
// Monetary Value"). A customer's transaction values are Gamma(p, ν) with a
// customer-specific scale ν ~ Gamma(q, γ); spend is independent of the
// transaction process. Values are in the currency the parameters were fitted in.
struct GammaGammaParams {
  double p = 0, q = 0, gamma = 0;
};

// E[M | x, m_x]: the expected mean value per transaction of a customer with x
// repeat transactions of mean value m_x, (γ + x m_x) p / (p x + q - 1). For
// x == 0 it is the population mean p γ / (q - 1).
// REQUIRES: q > 1, x >= 0.
double GammaGammaExpectedSpend(const GammaGammaParams& p, double x, double m_x);

// The log-likelihood of one customer's mean value m_x over x transactions:
//   lnΓ(px + q) - lnΓ(px) - lnΓ(q) + q ln γ + (px - 1) ln m_x + px ln x - (px + q) ln(γ + x m_x).
// REQUIRES: x >= 1, m_x > 0, p, q, γ > 0.
double GammaGammaLogLikelihood(const GammaGammaParams& p, double x, double m_x);

}  // namespace crm
