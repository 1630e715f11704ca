#pragma once

#include "core/bgnbd.h"

namespace crm {

// The Pareto/NBD model of Schmittlein, Morrison & Colombo (1987). While alive,
// a customer transacts as a Poisson process of rate λ ~ Gamma(r, α); their
// lifetime is exponential of rate μ ~ Gamma(s, β), independent of λ. Unlike
// BG/NBD, a customer may drop out at any time, not only at a transaction, so
// silence lowers P(alive) even for a customer with one purchase. Time is in
// the unit the parameters were fitted in. Expressions from Fader & Hardie
// (2005), "A Note on Deriving the Pareto/NBD Model and Related Expressions".
// All functions are pure and thread-safe.
struct ParetoNbdParams {
  double r = 0, alpha = 0, s = 0, beta = 0;
};

// The same (x, t_x, T) summary as BG/NBD: x repeat transactions, the last at
// t_x, observed for T, all from the first transaction.
using ParetoNbdHistory = BgNbdHistory;

// P(alive at T | x, t_x, T).
// REQUIRES: positive parameters, x >= 0, 0 <= t_x <= T.
double ParetoNbdProbabilityAlive(const ParetoNbdParams& p, const ParetoNbdHistory& h);

// E[Y(t) | x, t_x, T]: expected transactions in the next `t` units,
// P(alive) (r + x)(β + T) / ((α + T)(s - 1)) [1 - ((β + T) / (β + T + t))^(s - 1)]
// (its limit (r + x)(β + T) / (α + T) ln((β + T + t) / (β + T)) at s = 1).
double ParetoNbdExpectedTransactions(const ParetoNbdParams& p, const ParetoNbdHistory& h, double t);

// E[Y(t) | alive at T, x, T]: the expectation above without its P(alive)
// factor, so that many horizons cost one P(alive) (the CLV's steps);
// ParetoNbdExpectedTransactions is P(alive) times this, to the bit.
double ParetoNbdExpectedTransactionsIfAlive(const ParetoNbdParams& p, const ParetoNbdHistory& h,
                                            double t);

// P(no transaction in the next `t` units | x, t_x, T): the likelihood of the
// same history observed for T + t over its likelihood observed for T (the
// likelihood of (x, t_x, T) is the probability of no transaction after t_x
// up to T).
double ParetoNbdProbabilityNoTransaction(const ParetoNbdParams& p, const ParetoNbdHistory& h,
                                         double t);

// The three above for one history and horizon, each equal to the bit to what
// its own function gives, at the cost of one.
struct ParetoNbdOutlook {
  double p_alive = 1;
  double expected_transactions = 0;
  double p_no_transaction = 1;
};
ParetoNbdOutlook ParetoNbdOutlookOf(const ParetoNbdParams& p, const ParetoNbdHistory& h, double t);

// The log-likelihood of one customer's history, in the numerically stable
// form of Fader & Hardie's note (the 2F1 argument in [0, 1) for α >= β and
// for α < β alike), computed in logarithms so that long histories neither
// overflow nor underflow.
double ParetoNbdLogLikelihood(const ParetoNbdParams& p, const ParetoNbdHistory& h);

}  // namespace crm
