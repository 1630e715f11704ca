#include "core/gamma_gamma.h"

#include <gtest/gtest.h>

namespace crm {
namespace {

// The published estimates on the CDNOW 1/10th sample (Fader & Hardie 2013).
const GammaGammaParams kCdnow{6.25, 3.74, 15.44};

TEST(GammaGammaTest, ExpectedSpendIsTheClosedForm) {
  // (γ + x m_x) p / (p x + q - 1) = 35.44 * 6.25 / 8.99.
  EXPECT_NEAR(GammaGammaExpectedSpend(kCdnow, 1, 20), 24.638487208008897, 1e-12);
  // 90.44 * 6.25 / 21.49: a weighted average of the population mean and m_x.
  EXPECT_NEAR(GammaGammaExpectedSpend(kCdnow, 3, 25), 26.302931596091202, 1e-12);
}

TEST(GammaGammaTest, NoRepeatGivesThePopulationMean) {
  // p γ / (q - 1) = 96.5 / 2.74.
  EXPECT_NEAR(GammaGammaExpectedSpend(kCdnow, 0, 0), 35.21897810218978, 1e-12);
  EXPECT_NEAR(GammaGammaExpectedSpend(kCdnow, 0, 123), 35.21897810218978, 1e-12);
}

TEST(GammaGammaTest, ExpectedSpendMovesTowardsTheObservedMeanWithMoreTransactions) {
  const double few = GammaGammaExpectedSpend(kCdnow, 1, 100);
  const double many = GammaGammaExpectedSpend(kCdnow, 50, 100);
  EXPECT_LT(few, many);
  EXPECT_LT(many, 100);
  EXPECT_GT(few, GammaGammaExpectedSpend(kCdnow, 0, 0));
}

TEST(GammaGammaTest, LogLikelihoodMatchesHandComputation) {
  // x = 3, m_x = 25: lnΓ(22.49) - lnΓ(18.75) - lnΓ(3.74) + 3.74 ln 15.44 + 17.75 ln 25
  // + 18.75 ln 3 - 22.49 ln 90.44, computed independently and also checked by integrating
  // the Gamma(px, xν) density of the mean over ν ~ Gamma(q, γ) numerically.
  EXPECT_NEAR(GammaGammaLogLikelihood(kCdnow, 3, 25), -3.5937444614705356, 1e-10);
}

}  // namespace
}  // namespace crm
