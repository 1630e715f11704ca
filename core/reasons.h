#pragma once

// The reasons a churn or appetence score gives: what, against a typical
// customer, raises the score, one sentence per underlying fact.
//
// The rule (docs/scores-and-models.md, "Reasons"):
// - the features that say one fact (the three recency features, the two
//   counts of recent purchases, the purchase model's outlook, …) form one
//   fact; its weight is the sum of their contributions w × (value − mean);
// - a fact is a reason only if that sum is positive (it raises the score) and
//   at least the model's min_reason_weight, and only if the customer stands on
//   the side of the typical customer that reads as a reason (a long silence,
//   few purchases, a complaint: never "no complaint" or "4 purchases so far"
//   as a reason to leave). Where a model's weight points against that reading
//   (collinear features often do), the fact gives no reason;
// - a missing fact (no survey answered) has no value: it contributes nothing
//   and gives no reason;
// - the reasons are listed largest first, at most max_reasons, each sentence
//   once.
// The typical customer is the model's mean of the fact's reference feature
// (the first of the fact's features the model weighs), quoted in the sentence
// where it reads well ("only 1 purchase so far; typically 17").
//
// Pure functions of their arguments: safe from any thread.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/features.h"
#include "core/model.h"
#include "core/score_reason.h"

namespace crm {

// Where the customer's fact stands against the typical customer's.
enum class ReasonDirection : std::uint8_t {
  kAbove,  // more (later, higher, …) than typical
  kBelow,  // less than typical
};

// One reason: the fact's code and sentence, the summed contribution of its
// features (> 0, in log-odds) and where the customer stands.
struct Reason {
  std::string code;
  std::string sentence;
  double weight = 0;
  ReasonDirection direction = ReasonDirection::kAbove;
};

// The limits of a list of reasons (Model::max_reasons, Model::min_reason_weight).
struct ReasonLimits {
  int max_reasons = 3;
  double min_weight = 0.05;
};

// The reasons of a churn score of `model` over `values` (ChurnFeatures(facts)).
// REQUIRES: values.size() == kChurnFeatureNames.size().
std::vector<Reason> ChurnReasons(const LogisticModel& model, std::span<const double> values,
                                 const CustomerFacts& facts, ReasonLimits limits);

// The reasons of an appetence score for `product_code` over `values`
// (AppetenceFeatures(facts, product)).
// REQUIRES: values.size() == kAppetenceFeatureNames.size().
std::vector<Reason> AppetenceReasons(const LogisticModel& model, std::span<const double> values,
                                     const CustomerFacts& facts, const ProductFacts& product,
                                     std::string_view product_code, ReasonLimits limits);

// The reasons as a score carries them.
std::vector<ScoreReason> ToScoreReasons(std::vector<Reason> reasons);

}  // namespace crm
