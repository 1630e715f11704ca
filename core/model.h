#pragma once

#include <string>

namespace crm {

// Parameters of the lifecycle rules; see Scorer.
struct LifecycleParams {
  // Transactions (distinct purchase days) from which a customer is mature.
  int maturity_min_transactions = 3;
  // A repeat customer is in decline when the days since the last purchase
  // exceed this multiple of their own mean inter-purchase interval…
  double decline_rhythm_factor = 2.5;
  // …and at least this many days.
  double decline_min_days = 30;
  // A single-purchase customer is in decline after this many days.
  double single_purchase_decline_days = 90;
};

// Every parameter the scorer uses, with the version stamped on each score.
// Built-in defaults stand until a model file is loaded.
struct Model {
  std::string version = "builtin-1";
  LifecycleParams lifecycle;
};

}  // namespace crm
