#include "core/model.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/features.h"

namespace crm {
namespace {

bool Positive(double v) { return std::isfinite(v) && v > 0; }

absl::Status CheckLogistic(const LogisticModel& model,
                           std::span<const std::string_view> feature_names,
                           std::string_view where) {
  if (!std::isfinite(model.intercept)) {
    return absl::InvalidArgumentError(std::string(where) + ": intercept is not a finite number");
  }
  for (const auto* table : {&model.weights, &model.means}) {
    for (const auto& [name, value] : *table) {
      if (std::find(feature_names.begin(), feature_names.end(), name) == feature_names.end()) {
        return absl::InvalidArgumentError(std::string(where) + ": unknown feature \"" + name +
                                          "\"");
      }
      if (!std::isfinite(value)) {
        return absl::InvalidArgumentError(std::string(where) + ": feature \"" + name +
                                          "\" is not a finite number");
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view TimeUnitName(TimeUnit unit) { return unit == TimeUnit::kDay ? "day" : "week"; }
double DaysPerUnit(TimeUnit unit) { return unit == TimeUnit::kDay ? 1 : 7; }

std::string_view PurchaseModelKindName(PurchaseModelKind kind) {
  switch (kind) {
    case PurchaseModelKind::kBgNbd:
      return "BG_NBD";
    case PurchaseModelKind::kParetoNbd:
      return "PARETO_NBD";
  }
  return "BG_NBD";
}

std::optional<PurchaseModelKind> PurchaseModelKindFromName(std::string_view name) {
  for (PurchaseModelKind kind : {PurchaseModelKind::kBgNbd, PurchaseModelKind::kParetoNbd}) {
    if (name == PurchaseModelKindName(kind)) return kind;
  }
  return std::nullopt;
}

ChurnModel Model::DefaultChurnModel() {
  // Hand-set until a trained model is loaded: the signs and rough sizes the
  // literature and the course notes give (fewer expected purchases, a broken
  // rhythm, complaints, poor satisfaction, falling contact, cancellations and
  // returns all raise the risk).
  ChurnModel churn;
  churn.horizon_days = 90;
  churn.logistic.intercept = -0.5;
  churn.logistic.weights = {
      {"log_expected_purchases", -0.8}, {"p_alive", -1.5},        {"recency_vs_rhythm", 0.5},
      {"recent_complaints", 0.6},       {"dissatisfaction", 2.0}, {"contact_decline", 1.5},
      {"recent_cancellation", 2.0},     {"return_rate", 1.0},
  };
  churn.logistic.means = {
      {"log_expected_purchases", 0.0}, {"p_alive", 0.7},         {"recency_vs_rhythm", 1.0},
      {"recent_complaints", 0.2},      {"dissatisfaction", 0.3}, {"contact_decline", 0.2},
      {"recent_cancellation", 0.05},   {"return_rate", 0.05},
  };
  return churn;
}

absl::Status ValidateModel(const Model& model) {
  if (model.version.empty()) return absl::InvalidArgumentError("version is empty");
  const BgNbdParams& bg = model.purchase.bgnbd;
  if (!Positive(bg.r) || !Positive(bg.alpha) || !Positive(bg.a) || !Positive(bg.b)) {
    return absl::InvalidArgumentError("bgnbd: r, alpha, a and b must be positive numbers");
  }
  if (bg.a == 1) return absl::InvalidArgumentError("bgnbd: a = 1 has no closed form");
  const ParetoNbdParams& pn = model.purchase.pareto_nbd;
  if (!Positive(pn.r) || !Positive(pn.alpha) || !Positive(pn.s) || !Positive(pn.beta)) {
    return absl::InvalidArgumentError("pareto_nbd: r, alpha, s and beta must be positive numbers");
  }
  const GammaGammaParams& gg = model.purchase.gamma_gamma;
  if (!Positive(gg.p) || !Positive(gg.gamma) || !(std::isfinite(gg.q) && gg.q > 1)) {
    return absl::InvalidArgumentError(
        "gamma_gamma: p and gamma must be positive and q greater than 1");
  }
  const ValueParams& v = model.value;
  if (!Positive(v.margin) || v.margin > 1) {
    return absl::InvalidArgumentError("value: margin must be in (0, 1]");
  }
  if (!std::isfinite(v.annual_discount_rate) || v.annual_discount_rate < 0) {
    return absl::InvalidArgumentError("value: annual_discount_rate must be >= 0");
  }
  if (!Positive(v.clv_horizon_days) || v.clv_horizon_days > 36525) {
    return absl::InvalidArgumentError("value: clv_horizon_days must be in (0, 36525]");
  }
  if (!std::isfinite(v.profitability_threshold) || !std::isfinite(v.potential_threshold)) {
    return absl::InvalidArgumentError("value: quadrant thresholds must be finite numbers");
  }
  const auto cost = [](double c) { return std::isfinite(c) && c >= 0; };
  if (!std::all_of(v.contact_cost.begin(), v.contact_cost.end(), cost) || !cost(v.return_cost) ||
      !cost(v.complaint_cost)) {
    return absl::InvalidArgumentError("value: costs to serve must be finite numbers >= 0");
  }
  const LifecycleParams& l = model.lifecycle;
  if (l.maturity_min_transactions < 1 || !Positive(l.decline_rhythm_factor) ||
      !(l.decline_min_days >= 0) || !(l.single_purchase_decline_days >= 0)) {
    return absl::InvalidArgumentError("lifecycle: thresholds must be positive");
  }
  if (!(l.lost_p_alive >= 0 && l.lost_p_alive < 1)) {
    return absl::InvalidArgumentError("lifecycle: lost_p_alive must be in [0, 1)");
  }
  if (!Positive(model.churn.horizon_days) || model.churn.horizon_days > 3660) {
    return absl::InvalidArgumentError("churn: horizon_days must be in (0, 3660]");
  }
  if (absl::Status s = CheckLogistic(model.churn.logistic, kChurnFeatureNames, "churn"); !s.ok()) {
    return s;
  }
  std::set<std::string_view> products;
  for (const AppetenceModel& offer : model.appetence) {
    if (offer.product.empty()) return absl::InvalidArgumentError("appetence: empty product");
    if (!products.insert(offer.product).second) {
      return absl::InvalidArgumentError("appetence: product \"" + offer.product +
                                        "\" listed twice");
    }
    if (absl::Status s =
            CheckLogistic(offer.logistic, kAppetenceFeatureNames, "appetence " + offer.product);
        !s.ok()) {
      return s;
    }
  }
  if (model.max_reasons < 0 || model.max_reasons > 20) {
    return absl::InvalidArgumentError("max_reasons must be in [0, 20]");
  }
  if (!(model.min_reason_weight >= 0)) {
    return absl::InvalidArgumentError("min_reason_weight must be >= 0");
  }
  return absl::OkStatus();
}

}  // namespace crm
