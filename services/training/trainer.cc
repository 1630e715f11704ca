#include "services/training/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <sstream>

#include "core/customer_state.h"
#include "core/features.h"
#include "core/validation.h"
#include "services/codec/touchpoint_codec.h"

namespace crm::training {
namespace {

constexpr std::size_t kMaxErrorsKept = 10;

// One customer as of the calibration end, and what they did in the horizon.
struct Example {
  const CustomerId* id = nullptr;
  CustomerState state;
  bool churned = true;                        // no purchase (or a cancellation) in the horizon
  std::set<std::string, std::less<>> bought;  // products bought in the horizon
};

std::vector<Example> Examples(const TrainingLog& log, std::int32_t calibration_day,
                              double horizon_days) {
  std::vector<Example> examples;
  const StateLimits limits{.dedup_window = 1024};
  for (const auto& [id, touchpoints] : log.customers) {
    Example example;
    example.id = &id;
    bool bought_in_horizon = false, cancelled_in_horizon = false;
    for (const Touchpoint& tp : touchpoints) {
      const std::int32_t day = DayNumber(tp.occurred_at);
      if (day <= calibration_day) {
        ApplyTouchpoint(tp, limits, example.state);
      } else if (day <= calibration_day + horizon_days) {
        if (tp.type == TouchpointType::kPurchase) {
          bought_in_horizon = true;
          if (!tp.product.empty()) example.bought.insert(tp.product);
        }
        if (tp.type == TouchpointType::kCancellation) cancelled_in_horizon = true;
      }
    }
    if (example.state.events_applied == 0) continue;  // not a customer yet
    example.churned = !bought_in_horizon || cancelled_in_horizon;
    examples.push_back(std::move(example));
  }
  return examples;
}

// FNV-1a of the id, to hold out a stable share of the customers.
bool HeldOut(const CustomerId& id, double share) {
  return static_cast<double>(EventIdHash(id.value()) % 10000) < share * 10000;
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  const auto mid = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), mid, values.end());
  return *mid;
}

double LogLoss(std::span<const double> p, std::span<const int> labels) {
  double total = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double q = std::clamp(p[i], 1e-12, 1 - 1e-12);
    total -= labels[i] != 0 ? std::log(q) : std::log(1 - q);
  }
  return p.empty() ? 0 : total / static_cast<double>(p.size());
}

// Fits a logistic model on named features; constant features get no weight.
// The result is centred on the training means (see LogisticModel).
absl::StatusOr<LogisticModel> FitNamed(std::span<const std::string_view> names,
                                       const std::vector<std::vector<double>>& rows,
                                       const std::vector<int>& labels, double l2) {
  const std::size_t n = names.size();
  // A missing value (kMissingFeature) is imputed the mean of the known ones,
  // so that it contributes nothing, as the scorer scores it.
  std::vector<double> mean(n, 0), known(n, 0), lo(n, std::numeric_limits<double>::infinity()),
      hi(n, -std::numeric_limits<double>::infinity());
  for (const auto& row : rows) {
    for (std::size_t j = 0; j < n; ++j) {
      if (std::isnan(row[j])) continue;
      mean[j] += row[j];
      known[j] += 1;
      lo[j] = std::min(lo[j], row[j]);
      hi[j] = std::max(hi[j], row[j]);
    }
  }
  for (std::size_t j = 0; j < n; ++j) mean[j] = known[j] > 0 ? mean[j] / known[j] : 0;
  std::vector<std::size_t> used;
  for (std::size_t j = 0; j < n; ++j) {
    if (hi[j] > lo[j]) used.push_back(j);
  }
  std::vector<std::vector<double>> reduced;
  reduced.reserve(rows.size());
  for (const auto& row : rows) {
    std::vector<double> r;
    r.reserve(used.size());
    for (std::size_t j : used) r.push_back(std::isnan(row[j]) ? mean[j] : row[j]);
    reduced.push_back(std::move(r));
  }
  absl::StatusOr<LogisticFit> fit = FitLogistic(reduced, labels, l2);
  if (!fit.ok()) return fit.status();
  LogisticModel model;
  model.intercept = fit->intercept;
  for (std::size_t k = 0; k < used.size(); ++k) {
    const std::string name(names[used[k]]);
    model.weights[name] = fit->weights[k];
    model.means[name] = mean[used[k]];
    model.intercept += fit->weights[k] * mean[used[k]];
  }
  return model;
}

std::string Number(double v) {
  if (!std::isfinite(v)) return "null";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6g", v);
  return buffer;
}

std::string Quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(c) >= 0x20) out.push_back(c);
  }
  return out + "\"";
}

}  // namespace

TrainingLog ReadTrainingLog(std::istream& in, const std::function<void(std::uint64_t)>& progress) {
  TrainingLog log;
  const Timestamp far_future = FromMicros(std::numeric_limits<std::int64_t>::max() / 2);
  const ValidationLimits limits;
  std::string line;
  std::uint64_t line_number = 0;
  const auto fail = [&](std::string_view why) {
    ++log.rejected;
    if (log.errors.size() < kMaxErrorsKept) {
      log.errors.push_back("line " + std::to_string(line_number) + ": " + std::string(why));
    }
  };
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ++log.lines;
    if (progress && log.lines % 100000 == 0) progress(log.lines);
    auto decoded = DecodeTouchpoint(line, "application/json");
    if (const auto* rejection = std::get_if<Rejection>(&decoded)) {
      fail(rejection->detail());
      continue;
    }
    Touchpoint& tp = std::get<Touchpoint>(decoded);
    if (auto rejection = ValidateTouchpoint(tp, tp.customer_id.value(), far_future, limits)) {
      fail(rejection->detail());
      continue;
    }
    if (!tp.product.empty()) {
      if (auto category = tp.attributes.find("category"); category != tp.attributes.end()) {
        log.catalogue.insert_or_assign(tp.product, category->second);
      }
    }
    if (!log.last_event || tp.occurred_at > *log.last_event) log.last_event = tp.occurred_at;
    log.customers[tp.customer_id].push_back(std::move(tp));
  }
  return log;
}

namespace {

// Fits BG/NBD, Pareto/NBD and Gamma-Gamma on the customers of `groups`
// (null: none) who bought before `as_of`, into `model` and `report`.
absl::Status FitPurchases(std::initializer_list<const std::vector<Example>*> groups,
                          Timestamp as_of, Model& model, TrainReport& report) {
  std::vector<BgNbdHistory> histories;
  std::vector<SpendHistory> spends;
  for (const std::vector<Example>* group : groups) {
    if (group == nullptr) continue;
    for (const Example& e : *group) {
      if (e.state.purchase_days.empty()) continue;
      const BgNbdHistory h = PurchaseHistoryOf(e.state, as_of, model.purchase);
      histories.push_back(h);
      const std::size_t days = e.state.purchase_days.size();
      if (days > 1) {
        spends.push_back({h.x, (e.state.purchase_amount - e.state.first_day_amount) /
                                   static_cast<double>(days - 1)});
      }
    }
  }
  if (histories.empty())
    return absl::InvalidArgumentError("no purchase before the calibration end");
  absl::StatusOr<BgNbdFit> bgnbd = FitBgNbd(histories);
  if (!bgnbd.ok()) return bgnbd.status();
  report.bgnbd = *bgnbd;
  report.bgnbd_customers = static_cast<std::int64_t>(histories.size());
  model.purchase.bgnbd = bgnbd->params;
  absl::StatusOr<ParetoNbdFit> pareto_nbd = FitParetoNbd(histories);
  if (!pareto_nbd.ok()) return pareto_nbd.status();
  report.pareto_nbd = *pareto_nbd;
  model.purchase.pareto_nbd = pareto_nbd->params;
  absl::StatusOr<GammaGammaFit> gamma_gamma = FitGammaGamma(spends);
  if (!gamma_gamma.ok()) return gamma_gamma.status();
  report.gamma_gamma = *gamma_gamma;
  model.purchase.gamma_gamma = gamma_gamma->params;
  return absl::OkStatus();
}

// Fits the churn model on `all` (their `facts`), into `model`, and
// evaluates it on `held` (from the evaluation log when `evaluation_log`):
// `report.churn`, and the held-out customers' facts in `held_facts`.
absl::Status FitChurn(const std::vector<Example>& all, const std::vector<CustomerFacts>& facts,
                      const std::vector<Example>& held, bool evaluation_log, Timestamp as_of,
                      const TrainOptions& options, Model& model, TrainReport& report,
                      std::vector<CustomerFacts>& held_facts) {
  const double horizon = model.churn.horizon_days;
  std::vector<std::vector<double>> rows;
  std::vector<int> labels;
  for (std::size_t i = 0; i < all.size(); ++i) {
    rows.push_back(ChurnFeatures(facts[i]));
    labels.push_back(all[i].churned ? 1 : 0);
  }
  absl::StatusOr<LogisticModel> churn = FitNamed(kChurnFeatureNames, rows, labels, options.l2);
  if (!churn.ok()) return churn.status();
  model.churn.logistic = *churn;

  ChurnReport& cr = report.churn;
  cr.horizon_days = horizon;
  cr.train_customers = static_cast<std::int64_t>(all.size());
  cr.evaluation_customers = static_cast<std::int64_t>(held.size());
  cr.evaluated_on =
      evaluation_log ? "the evaluation log" : "customers held out of the fit (by id hash)";
  std::vector<double> predicted, recency, fewer_expected, no_purchase;
  std::vector<int> held_labels;
  for (const Example& e : held) {
    held_facts.push_back(FactsOf(e.state, as_of, model));
    const CustomerFacts& f = held_facts.back();
    const std::vector<double> features = ChurnFeatures(f);
    predicted.push_back(
        EvaluateLogistic(model.churn.logistic, kChurnFeatureNames, features).probability);
    recency.push_back(f.has_purchase ? f.recency_days : f.tenure_days);
    fewer_expected.push_back(-f.expected_purchases);
    no_purchase.push_back(f.p_no_purchase);
    held_labels.push_back(e.churned ? 1 : 0);
  }
  cr.base_rate = static_cast<double>(std::count(held_labels.begin(), held_labels.end(), 1)) /
                 static_cast<double>(held_labels.size());
  cr.auc = Auc(predicted, held_labels);
  cr.auc_recency = Auc(recency, held_labels);
  cr.auc_expected_purchases = Auc(fewer_expected, held_labels);
  cr.auc_p_no_purchase = Auc(no_purchase, held_labels);
  cr.log_loss = LogLoss(predicted, held_labels);
  cr.calibration = CalibrationTable(predicted, held_labels, 10);
  return absl::OkStatus();
}

// Fits an appetence model per product with enough buyers in the horizon
// among `all`, evaluated on `held`, into `model` and `report`.
absl::Status FitAppetence(const std::vector<Example>& all, const std::vector<CustomerFacts>& facts,
                          const std::vector<Example>& held,
                          const std::vector<CustomerFacts>& held_facts, Timestamp as_of,
                          const TrainOptions& options, Model& model, TrainReport& report) {
  std::map<std::string, std::int64_t, std::less<>> buyers;
  for (const Example& e : all) {
    for (const std::string& product : e.bought) ++buyers[product];
  }
  for (const auto& [product, count] : buyers) {
    if (count < options.min_product_buyers) continue;
    AppetenceModel offer;
    offer.product = product;
    if (auto category = model.catalogue.find(product); category != model.catalogue.end()) {
      offer.category = category->second;
    }
    std::vector<std::vector<double>> offer_rows;
    std::vector<int> offer_labels;
    for (std::size_t i = 0; i < all.size(); ++i) {
      offer_rows.push_back(
          AppetenceFeatures(facts[i], ProductFactsOf(all[i].state, as_of, offer, model)));
      offer_labels.push_back(all[i].bought.contains(product) ? 1 : 0);
    }
    absl::StatusOr<LogisticModel> fit =
        FitNamed(kAppetenceFeatureNames, offer_rows, offer_labels, options.l2);
    if (!fit.ok()) return fit.status();
    offer.logistic = *fit;
    std::vector<double> scores;
    std::vector<int> bought;
    for (std::size_t i = 0; i < held.size(); ++i) {
      const std::vector<double> features =
          AppetenceFeatures(held_facts[i], ProductFactsOf(held[i].state, as_of, offer, model));
      scores.push_back(
          EvaluateLogistic(offer.logistic, kAppetenceFeatureNames, features).probability);
      bought.push_back(held[i].bought.contains(product) ? 1 : 0);
    }
    report.appetence.push_back({product, count, Auc(scores, bought)});
    model.appetence.push_back(std::move(offer));
  }
  return absl::OkStatus();
}

// The churn AUCs on each purchase model: the selected one's from
// `report.churn`, the other's by fitting the churn weights again on a copy of
// `model` that selects it (`model` itself is left as it is).
absl::Status ComparePurchaseModels(const std::vector<Example>& all,
                                   const std::vector<Example>& held, bool evaluation_log,
                                   Timestamp as_of, const TrainOptions& options, const Model& model,
                                   TrainReport& report) {
  const auto aucs_of = [](const ChurnReport& churn) {
    return PurchaseModelAucs{churn.auc, churn.auc_expected_purchases, churn.auc_p_no_purchase};
  };
  const bool pareto = model.purchase.kind == PurchaseModelKind::kParetoNbd;
  (pareto ? report.pareto_nbd_aucs : report.bgnbd_aucs) = aucs_of(report.churn);
  Model other = model;
  other.purchase.kind = pareto ? PurchaseModelKind::kBgNbd : PurchaseModelKind::kParetoNbd;
  std::vector<CustomerFacts> facts;
  facts.reserve(all.size());
  for (const Example& e : all) facts.push_back(FactsOf(e.state, as_of, other, false));
  TrainReport scratch;
  std::vector<CustomerFacts> held_facts;
  if (absl::Status fitted =
          FitChurn(all, facts, held, evaluation_log, as_of, options, other, scratch, held_facts);
      !fitted.ok()) {
    return fitted;
  }
  (pareto ? report.bgnbd_aucs : report.pareto_nbd_aucs) = aucs_of(scratch.churn);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Trained> Train(const TrainingLog& train, const TrainingLog* evaluate,
                              const TrainOptions& options) {
  if (!train.last_event) return absl::InvalidArgumentError("the training log has no touchpoint");
  const std::int32_t calibration_day = DayNumber(options.calibration_end);
  const Timestamp as_of = FromMicros(std::int64_t{calibration_day} * 86400 * 1000000);
  double horizon = options.horizon_days;
  if (horizon <= 0) horizon = DayNumber(*train.last_event) - calibration_day;
  if (horizon <= 0) {
    return absl::InvalidArgumentError(
        "no touchpoint after the calibration end: no period to learn churn from "
        "(choose an earlier --calibration-end)");
  }

  std::vector<Example> all = Examples(train, calibration_day, horizon);
  std::vector<Example> held;
  if (evaluate != nullptr) {
    held = Examples(*evaluate, calibration_day, horizon);
  } else {
    std::vector<Example> kept;
    for (Example& e : all)
      (HeldOut(*e.id, options.validation_share) ? held : kept).push_back(std::move(e));
    all = std::move(kept);
  }
  if (all.empty() || held.empty()) {
    return absl::InvalidArgumentError("too few customers before the calibration end to train on");
  }

  Trained trained;
  TrainReport& report = trained.report;
  Model& model = trained.model;
  model.version = options.version;
  model.purchase.time_unit = options.time_unit;
  model.purchase.merge_same_day = options.merge_same_day;
  model.purchase.kind = options.purchase_model;
  report.purchase_model = options.purchase_model;
  model.value = options.value;
  model.catalogue = train.catalogue;
  model.churn.horizon_days = horizon;

  // Purchase models, on every training customer who bought in calibration
  // (the held-out ones too when there is no evaluation log: they are not labels).
  if (absl::Status fitted =
          FitPurchases({&all, evaluate == nullptr ? &held : nullptr}, as_of, model, report);
      !fitted.ok()) {
    return fitted;
  }

  // Value quadrant thresholds: the medians of the training customers.
  std::vector<CustomerFacts> facts;
  facts.reserve(all.size());
  for (const Example& e : all) facts.push_back(FactsOf(e.state, as_of, model));
  std::vector<double> profits, potentials;
  for (const CustomerFacts& f : facts) {
    profits.push_back(f.past_profitability);
    potentials.push_back(f.clv);
  }
  model.value.profitability_threshold = Median(profits);
  model.value.potential_threshold = Median(potentials);

  // Churn, then appetence; each evaluated on the held-out customers.
  std::vector<CustomerFacts> held_facts;
  if (absl::Status fitted = FitChurn(all, facts, held, evaluate != nullptr, as_of, options, model,
                                     report, held_facts);
      !fitted.ok()) {
    return fitted;
  }
  if (absl::Status fitted =
          FitAppetence(all, facts, held, held_facts, as_of, options, model, report);
      !fitted.ok()) {
    return fitted;
  }
  if (absl::Status compared =
          ComparePurchaseModels(all, held, evaluate != nullptr, as_of, options, model, report);
      !compared.ok()) {
    return compared;
  }

  if (absl::Status valid = ValidateModel(model); !valid.ok()) {
    return absl::InternalError("the trained model does not validate: " +
                               std::string(valid.message()));
  }
  return trained;
}

std::string ReportText(const TrainReport& r) {
  std::ostringstream out;
  const BgNbdParams& bg = r.bgnbd.params;
  const ParetoNbdParams& pn = r.pareto_nbd.params;
  const bool pareto = r.purchase_model == PurchaseModelKind::kParetoNbd;
  out << "BG/NBD (" << r.bgnbd_customers << " customers): r=" << Number(bg.r)
      << " alpha=" << Number(bg.alpha) << " a=" << Number(bg.a) << " b=" << Number(bg.b)
      << " log-likelihood=" << Number(r.bgnbd.log_likelihood) << (pareto ? "" : " (selected)")
      << "\n  churn AUC " << Number(r.bgnbd_aucs.churn) << " (expected purchases "
      << Number(r.bgnbd_aucs.expected_purchases) << ", P(no purchase) "
      << Number(r.bgnbd_aucs.p_no_purchase) << ")\n";
  out << "Pareto/NBD (" << r.bgnbd_customers << " customers): r=" << Number(pn.r)
      << " alpha=" << Number(pn.alpha) << " s=" << Number(pn.s) << " beta=" << Number(pn.beta)
      << " log-likelihood=" << Number(r.pareto_nbd.log_likelihood) << (pareto ? " (selected)" : "")
      << "\n  churn AUC " << Number(r.pareto_nbd_aucs.churn) << " (expected purchases "
      << Number(r.pareto_nbd_aucs.expected_purchases) << ", P(no purchase) "
      << Number(r.pareto_nbd_aucs.p_no_purchase) << ")\n";
  const GammaGammaParams& gg = r.gamma_gamma.params;
  out << "Gamma-Gamma (" << r.gamma_gamma.customers << " repeat customers): p=" << Number(gg.p)
      << " q=" << Number(gg.q) << " gamma=" << Number(gg.gamma)
      << " log-likelihood=" << Number(r.gamma_gamma.log_likelihood) << "\n";
  const ChurnReport& c = r.churn;
  out << "Churn (no purchase within " << Number(c.horizon_days) << " days): trained on "
      << c.train_customers << " customers, measured on " << c.evaluation_customers << " ("
      << c.evaluated_on << "), churn rate " << Number(c.base_rate) << "\n"
      << "  AUC " << Number(c.auc) << " (baselines: recency " << Number(c.auc_recency) << ", "
      << (pareto ? "Pareto/NBD" : "BG/NBD") << " expected purchases "
      << Number(c.auc_expected_purchases) << ", " << (pareto ? "Pareto/NBD" : "BG/NBD")
      << " P(no purchase) " << Number(c.auc_p_no_purchase) << "), log loss " << Number(c.log_loss)
      << "\n"
      << "  calibration: mean predicted -> observed (customers)\n";
  for (const CalibrationBin& bin : c.calibration) {
    out << "    " << Number(bin.mean_predicted) << " -> " << Number(bin.observed_rate) << " ("
        << bin.count << ")\n";
  }
  for (const AppetenceReport& a : r.appetence) {
    out << "Appetence " << a.product << ": " << a.buyers << " buyers, AUC " << Number(a.auc)
        << "\n";
  }
  return out.str();
}

std::string ReportJson(const TrainReport& r) {
  std::ostringstream out;
  const BgNbdParams& bg = r.bgnbd.params;
  const GammaGammaParams& gg = r.gamma_gamma.params;
  const ChurnReport& c = r.churn;
  const ParetoNbdParams& pn = r.pareto_nbd.params;
  const auto aucs = [](const PurchaseModelAucs& a) {
    return ", \"churn_auc\": " + Number(a.churn) +
           ", \"auc_expected_purchases\": " + Number(a.expected_purchases) +
           ", \"auc_p_no_purchase\": " + Number(a.p_no_purchase);
  };
  out << "{\"bgnbd\": {\"r\": " << Number(bg.r) << ", \"alpha\": " << Number(bg.alpha)
      << ", \"a\": " << Number(bg.a) << ", \"b\": " << Number(bg.b)
      << ", \"log_likelihood\": " << Number(r.bgnbd.log_likelihood)
      << ", \"customers\": " << r.bgnbd_customers << aucs(r.bgnbd_aucs) << "},\n"
      << " \"pareto_nbd\": {\"r\": " << Number(pn.r) << ", \"alpha\": " << Number(pn.alpha)
      << ", \"s\": " << Number(pn.s) << ", \"beta\": " << Number(pn.beta)
      << ", \"log_likelihood\": " << Number(r.pareto_nbd.log_likelihood)
      << ", \"customers\": " << r.bgnbd_customers << aucs(r.pareto_nbd_aucs) << "},\n"
      << " \"purchase_model\": " << Quoted(PurchaseModelKindName(r.purchase_model)) << ",\n"
      << " \"gamma_gamma\": {\"p\": " << Number(gg.p) << ", \"q\": " << Number(gg.q)
      << ", \"gamma\": " << Number(gg.gamma)
      << ", \"log_likelihood\": " << Number(r.gamma_gamma.log_likelihood)
      << ", \"customers\": " << r.gamma_gamma.customers << "},\n"
      << " \"churn\": {\"auc\": " << Number(c.auc) << ", \"auc_recency\": " << Number(c.auc_recency)
      << ", \"auc_expected_purchases\": " << Number(c.auc_expected_purchases)
      << ", \"auc_p_no_purchase\": " << Number(c.auc_p_no_purchase)
      << ", \"log_loss\": " << Number(c.log_loss) << ", \"base_rate\": " << Number(c.base_rate)
      << ", \"horizon_days\": " << Number(c.horizon_days)
      << ", \"train_customers\": " << c.train_customers
      << ", \"evaluation_customers\": " << c.evaluation_customers
      << ", \"evaluated_on\": " << Quoted(c.evaluated_on) << ", \"calibration\": [";
  for (std::size_t i = 0; i < c.calibration.size(); ++i) {
    const CalibrationBin& bin = c.calibration[i];
    out << (i == 0 ? "" : ", ") << "{\"mean_predicted\": " << Number(bin.mean_predicted)
        << ", \"observed_rate\": " << Number(bin.observed_rate) << ", \"count\": " << bin.count
        << "}";
  }
  out << "]},\n \"appetence\": [";
  for (std::size_t i = 0; i < r.appetence.size(); ++i) {
    const AppetenceReport& a = r.appetence[i];
    out << (i == 0 ? "" : ", ") << "{\"product\": " << Quoted(a.product)
        << ", \"buyers\": " << a.buyers << ", \"auc\": " << Number(a.auc) << "}";
  }
  out << "]}\n";
  return out.str();
}

}  // namespace crm::training
