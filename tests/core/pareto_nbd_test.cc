#include "core/pareto_nbd.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace crm {
namespace {

// The published estimates on the CDNOW 1/10th sample (Fader, Hardie & Lee 2005): α < β.
const ParetoNbdParams kCdnow{.r = 0.553, .alpha = 10.578, .s = 0.606, .beta = 11.669};
// Made up, for the other branch of the likelihood (α >= β) and s > 1.
const ParetoNbdParams kAlphaHigh{.r = 0.9, .alpha = 12, .s = 1.4, .beta = 5};
// s = 1 exactly: the expectation's limit form.
const ParetoNbdParams kUnitS{.r = 0.7, .alpha = 8, .s = 1, .beta = 9};

const std::vector<ParetoNbdHistory> kHistories{
    {0, 0, 0},   {0, 0, 5},   {0, 0, 52},   {1, 0.5, 0.5}, {2, 30.43, 38.86},
    {7, 10, 80}, {4, 37, 38}, {15, 30, 39}, {3, 2, 60},
};

// The model by brute force, written independently of the closed forms: the
// individual-level quantities given (λ, μ), integrated over the Gamma(r, α)
// and Gamma(s, β) priors by the trapezoidal rule in log λ and log μ (spectrally
// accurate for these smooth, fast-decaying integrands). A customer alive at T
// contributes λ^x e^-(λ+μ)T; one who died at τ in (t_x, T] contributes
// λ^x ∫ μ e^-(λ+μ)τ dτ.
struct Reference {
  double log_likelihood = 0;
  double p_alive = 0;
  double expected_transactions = 0;
  double p_no_transaction = 0;
};

Reference Integrate(const ParetoNbdParams& p, const ParetoNbdHistory& h, double t) {
  constexpr double kLow = -70, kHigh = 6, kStep = 0.05;
  const int n = static_cast<int>((kHigh - kLow) / kStep) + 1;
  // Prior density × Jacobian (dλ = λ d log λ) at each node, and the
  // exponentials of each rate, so the double loop only multiplies.
  struct Node {
    double rate, weight, at_tx, at_T, at_t;
  };
  const auto nodes = [&](double shape, double scale, double power) {
    std::vector<Node> out;
    for (int i = 0; i < n; ++i) {
      const double v = kLow + i * kStep, rate = std::exp(v);
      const double log_weight =
          shape * std::log(scale) - std::lgamma(shape) + (shape + power) * v - scale * rate;
      out.push_back({rate, std::exp(log_weight), std::exp(-rate * h.t_x), std::exp(-rate * h.T),
                     std::exp(-rate * t)});
    }
    return out;
  };
  const std::vector<Node> lambdas = nodes(p.r, p.alpha, h.x);  // with λ^x
  const std::vector<Node> mus = nodes(p.s, p.beta, 0);
  double likelihood = 0, alive = 0, expected = 0, quiet = 0;
  for (const Node& l : lambdas) {
    if (l.weight == 0) continue;
    for (const Node& m : mus) {
      const double weight = l.weight * m.weight;
      if (weight == 0) continue;
      const double sum = l.rate + m.rate;
      const double alive_at_T = l.at_T * m.at_T;
      const double died = m.rate / sum * (l.at_tx * m.at_tx - alive_at_T);
      likelihood += weight * (alive_at_T + died);
      alive += weight * alive_at_T;
      // Alive at T: λ (1 - e^-μt) / μ transactions expected before dying or t;
      // none in t if death comes first, or neither comes within t.
      expected += weight * alive_at_T * l.rate * (1 - m.at_t) / m.rate;
      quiet += weight * (alive_at_T * (m.rate + l.rate * l.at_t * m.at_t) / sum + died);
    }
  }
  Reference ref;
  ref.log_likelihood = std::log(likelihood * kStep * kStep);
  ref.p_alive = alive / likelihood;
  ref.expected_transactions = expected / likelihood;
  ref.p_no_transaction = quiet / likelihood;
  return ref;
}

TEST(ParetoNbdTest, ClosedFormsMatchAnIndependentIntegration) {
  for (const ParetoNbdParams& p : {kCdnow, kAlphaHigh, kUnitS}) {
    for (const ParetoNbdHistory& h : kHistories) {
      const double t = 39;
      const Reference ref = Integrate(p, h, t);
      SCOPED_TRACE(testing::Message()
                   << "r=" << p.r << " alpha=" << p.alpha << " s=" << p.s << " beta=" << p.beta
                   << " x=" << h.x << " t_x=" << h.t_x << " T=" << h.T);
      EXPECT_NEAR(ParetoNbdLogLikelihood(p, h), ref.log_likelihood, 1e-9);
      EXPECT_NEAR(ParetoNbdProbabilityAlive(p, h), ref.p_alive, 1e-9);
      EXPECT_NEAR(ParetoNbdExpectedTransactions(p, h, t), ref.expected_transactions,
                  1e-9 * std::max(1.0, ref.expected_transactions));
      EXPECT_NEAR(ParetoNbdProbabilityNoTransaction(p, h, t), ref.p_no_transaction, 1e-9);
    }
  }
}

TEST(ParetoNbdTest, NewCustomerHasTheNbdClosedForms) {
  // Observed for T = 0 nobody has died yet: P(alive) = 1 and, over t, the
  // expectation is E[λ] E[(1 - e^-μt) / μ].
  const ParetoNbdHistory h{0, 0, 0};
  EXPECT_DOUBLE_EQ(ParetoNbdProbabilityAlive(kCdnow, h), 1);
  const double t = 39;
  const double by_hand =
      0.553 / 10.578 * 11.669 / (0.606 - 1) * (1 - std::pow(11.669 / (11.669 + t), 0.606 - 1));
  EXPECT_NEAR(ParetoNbdExpectedTransactions(kCdnow, h, t), by_hand, 1e-12);
  // x = 0 observed for T: L = (α/(α+T))^r (β/(β+T))^s + the part of those who died, so
  // the log-likelihood is above that of being alive throughout.
  const double alive_throughout =
      0.553 * std::log(10.578 / (10.578 + 30)) + 0.606 * std::log(11.669 / (11.669 + 30));
  EXPECT_GT(ParetoNbdLogLikelihood(kCdnow, {0, 0, 30}), alive_throughout);
  EXPECT_LT(ParetoNbdLogLikelihood(kCdnow, {0, 0, 30}), 0);
}

TEST(ParetoNbdTest, SilenceLowersProbabilityAliveEvenAfterOnePurchase) {
  // The point of the model: a one-time buyer of a year ago is probably gone,
  // where BG/NBD holds them alive for sure.
  const double year_ago = ParetoNbdProbabilityAlive(kCdnow, {0, 0, 52});
  EXPECT_LT(year_ago, 0.5);
  EXPECT_DOUBLE_EQ(BgNbdProbabilityAlive({0.243, 4.414, 0.793, 2.426}, {0, 0, 52}), 1);
  EXPECT_LT(year_ago, ParetoNbdProbabilityAlive(kCdnow, {0, 0, 5}));
  EXPECT_LT(ParetoNbdProbabilityAlive(kCdnow, {4, 5, 38}),
            ParetoNbdProbabilityAlive(kCdnow, {4, 37, 38}));
  // Right after a purchase the customer is certainly alive.
  EXPECT_DOUBLE_EQ(ParetoNbdProbabilityAlive(kCdnow, {4, 38, 38}), 1);
}

TEST(ParetoNbdTest, ProbabilityOfNoTransactionLimits) {
  const ParetoNbdHistory h{2, 30.43, 38.86};
  // Over a short window P(at least one) ≈ E[transactions].
  const double t = 1e-4;
  EXPECT_NEAR(1 - ParetoNbdProbabilityNoTransaction(kCdnow, h, t),
              ParetoNbdExpectedTransactions(kCdnow, h, t), 1e-7);
  EXPECT_GT(ParetoNbdProbabilityNoTransaction(kCdnow, h, 10),
            ParetoNbdProbabilityNoTransaction(kCdnow, h, 100));
  EXPECT_DOUBLE_EQ(ParetoNbdProbabilityNoTransaction(kCdnow, h, 0), 1);
}

TEST(ParetoNbdTest, LongHistoriesStayFinite) {
  // Thousands of transactions (a daily buyer for years) would overflow the
  // likelihood's powers and the 2F1 taken naively.
  for (const ParetoNbdParams& p : {kCdnow, kAlphaHigh}) {
    const ParetoNbdHistory h{3000, 3649.5, 3650};  // bought half a unit ago
    EXPECT_TRUE(std::isfinite(ParetoNbdLogLikelihood(p, h)));
    const ParetoNbdOutlook outlook = ParetoNbdOutlookOf(p, h, 90);
    EXPECT_GT(outlook.p_alive, 0.99);
    EXPECT_GT(outlook.expected_transactions, 0);
    EXPECT_GE(outlook.p_no_transaction, 0);
    EXPECT_LT(outlook.p_no_transaction, 0.01);  // only if they die before their next purchase
  }
}

TEST(ParetoNbdTest, OutlookIsTheThreeQuantitiesToTheBit) {
  for (const ParetoNbdParams& p : {kCdnow, kAlphaHigh, kUnitS}) {
    for (const ParetoNbdHistory& h : kHistories) {
      for (double t : {1.0, 12.86, 52.0}) {
        const ParetoNbdOutlook outlook = ParetoNbdOutlookOf(p, h, t);
        EXPECT_EQ(outlook.p_alive, ParetoNbdProbabilityAlive(p, h));
        EXPECT_EQ(outlook.expected_transactions, ParetoNbdExpectedTransactions(p, h, t));
        EXPECT_EQ(outlook.p_no_transaction, ParetoNbdProbabilityNoTransaction(p, h, t));
      }
    }
  }
}

}  // namespace
}  // namespace crm
