#pragma once

namespace crm {

// The BG/NBD model of Fader, Hardie & Lee (2005), "Counting Your Customers
// the Easy Way". Transactions follow a Poisson process of rate λ ~ Gamma(r, α)
// while the customer is alive; after each transaction they drop out with
// probability p ~ Beta(a, b). Time is in the unit the parameters were fitted in.
struct BgNbdParams {
  double r = 0, alpha = 0, a = 0, b = 0;
};

// A customer's history: x repeat transactions, the last at t_x, observed for T
// (all from the first transaction).
struct BgNbdHistory {
  double x = 0, t_x = 0, T = 0;
};

// P(alive | x, t_x, T), eq. (A10) of the paper's appendix.
double BgNbdProbabilityAlive(const BgNbdParams& p, const BgNbdHistory& h);

// E[Y(t) | x, t_x, T]: expected transactions in the next `t` units, eq. (10).
double BgNbdExpectedTransactions(const BgNbdParams& p, const BgNbdHistory& h, double t);
// The same, knowing the customer is alive: E[Y(t)] = P(alive) × this.
double BgNbdExpectedTransactionsIfAlive(const BgNbdParams& p, const BgNbdHistory& h, double t);

// P(no transaction in the next `t` units | x, t_x, T): a customer who is
// alive drops out only at a transaction, so this is
// 1 - P(alive) + P(alive) ((α + T) / (α + T + t))^(r + x).
double BgNbdProbabilityNoTransaction(const BgNbdParams& p, const BgNbdHistory& h, double t);

// The three above for one history and horizon, each equal to the bit to
// what its own function gives, at the cost of one.
struct BgNbdOutlook {
  double p_alive = 1;
  double expected_transactions = 0;
  double p_no_transaction = 1;
};
BgNbdOutlook BgNbdOutlookOf(const BgNbdParams& p, const BgNbdHistory& h, double t);

// The log-likelihood of one customer's history, eq. (6).
double BgNbdLogLikelihood(const BgNbdParams& p, const BgNbdHistory& h);

// Gauss's hypergeometric function 2F1(a, b; c; z) for 0 <= z < 1, by its series.
double Hypergeometric2F1(double a, double b, double c, double z);

}  // namespace crm
