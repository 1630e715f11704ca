#include "core/bgnbd.h"

#include <gtest/gtest.h>

#include <cmath>

namespace crm {
namespace {

// The published estimates on the CDNOW 1/10th sample (Fader, Hardie & Lee 2005).
const BgNbdParams kCdnow{0.243, 4.414, 0.793, 2.426};

// The paper's point check: x = 2, t_x = 30.43, T = 38.86 expects 1.226
// transactions in the next 39 weeks.
TEST(BgNbdTest, PublishedConditionalExpectation) {
  EXPECT_NEAR(BgNbdExpectedTransactions(kCdnow, {2, 30.43, 38.86}, 39), 1.226, 0.0005);
}

TEST(BgNbdTest, ProbabilityOfNoTransaction) {
  // A new customer (x = 0) is alive: P(0 in t) is the NBD's (α / (α + t))^r.
  EXPECT_NEAR(BgNbdProbabilityNoTransaction(kCdnow, {0, 0, 0}, 39),
              std::pow(4.414 / (4.414 + 39), 0.243), 1e-12);
  // By hand for a repeat buyer: 1 - P(alive) + P(alive) ((α+T)/(α+T+t))^(r+x).
  const BgNbdHistory h{2, 30.43, 38.86};
  const double alive = BgNbdProbabilityAlive(kCdnow, h);
  EXPECT_NEAR(BgNbdProbabilityNoTransaction(kCdnow, h, 39),
              1 - alive + alive * std::pow(43.274 / 82.274, 2.243), 1e-12);
  // Over a short window P(at least one) ≈ E[transactions].
  const double t = 1e-4;
  EXPECT_NEAR(1 - BgNbdProbabilityNoTransaction(kCdnow, h, t),
              BgNbdExpectedTransactions(kCdnow, h, t), 1e-7);
  // Longer windows leave less chance of buying nothing, down to 1 - P(alive).
  EXPECT_GT(BgNbdProbabilityNoTransaction(kCdnow, h, 10),
            BgNbdProbabilityNoTransaction(kCdnow, h, 100));
  EXPECT_NEAR(BgNbdProbabilityNoTransaction(kCdnow, h, 1e12), 1 - alive, 1e-6);
}

TEST(BgNbdTest, ProbabilityAliveFallsWithSilence) {
  EXPECT_DOUBLE_EQ(BgNbdProbabilityAlive(kCdnow, {0, 0, 38}), 1);  // no repeat: never dropped
  const double recent = BgNbdProbabilityAlive(kCdnow, {4, 37, 38});
  const double silent = BgNbdProbabilityAlive(kCdnow, {4, 5, 38});
  // Even right after a purchase a repeat buyer may have dropped out (a/(b+x-1)).
  EXPECT_NEAR(recent, 1 / (1 + 0.793 / 5.426 * std::pow(42.414 / 41.414, 4.243)), 1e-12);
  EXPECT_NEAR(recent, 0.8608, 0.0001);
  EXPECT_LT(silent, recent);
  EXPECT_GT(silent, 0);
  // By hand: 1 / (1 + a/(b+x-1) * ((α+T)/(α+t_x))^(r+x)).
  const double odds = 0.793 / (2.426 + 3) * std::pow((4.414 + 38) / (4.414 + 5), 0.243 + 4);
  EXPECT_NEAR(silent, 1 / (1 + odds), 1e-12);
}

TEST(BgNbdTest, HypergeometricMatchesClosedForms) {
  // 2F1(1, 1; 2; z) = -ln(1 - z) / z; 2F1(a, b; b; z) = (1 - z)^-a.
  EXPECT_NEAR(Hypergeometric2F1(1, 1, 2, 0.5), -std::log(0.5) / 0.5, 1e-12);
  EXPECT_NEAR(Hypergeometric2F1(2.5, 3, 3, 0.3), std::pow(0.7, -2.5), 1e-12);
  EXPECT_DOUBLE_EQ(Hypergeometric2F1(1, 1, 2, 0), 1);
}

TEST(BgNbdTest, LikelihoodIsAProperDistributionOverTheNoRepeatCase) {
  // With x = 0 the likelihood is P(no repeat in T) = B(a,b+0)/B(a,b) * (α/(α+T))^r.
  const double ll = BgNbdLogLikelihood(kCdnow, {0, 0, 30});
  EXPECT_NEAR(ll, 0.243 * std::log(4.414 / (4.414 + 30)), 1e-12);
  EXPECT_LT(BgNbdLogLikelihood(kCdnow, {3, 20, 30}), 0);
}

TEST(BgNbdTest, OutlookIsTheThreeQuantitiesToTheBit) {
  const BgNbdParams p{.r = 0.243, .alpha = 4.414, .a = 0.793, .b = 2.426};
  for (const BgNbdHistory& h : {BgNbdHistory{0, 0, 3}, BgNbdHistory{2, 30.43, 38.86},
                                BgNbdHistory{7, 10, 80}, BgNbdHistory{1, 0.5, 0.5}}) {
    for (double t : {1.0, 12.86, 52.0}) {
      const BgNbdOutlook outlook = BgNbdOutlookOf(p, h, t);
      EXPECT_EQ(outlook.p_alive, BgNbdProbabilityAlive(p, h));
      EXPECT_EQ(outlook.expected_transactions, BgNbdExpectedTransactions(p, h, t));
      EXPECT_EQ(outlook.p_no_transaction, BgNbdProbabilityNoTransaction(p, h, t));
    }
  }
}

}  // namespace
}  // namespace crm
