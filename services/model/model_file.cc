#include "services/model/model_file.h"

#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <sstream>

#include "core/bounded_text.h"
#include "crm/v1/model.pb.h"

namespace crm {
namespace {

// An unknown value quoted back in an error is cut to this.
constexpr std::size_t kMaxEchoedBytes = 64;

LogisticModel FromProto(const v1::LogisticParameters& m) {
  LogisticModel out;
  out.intercept = m.intercept();
  out.weights.insert(m.weights().begin(), m.weights().end());
  out.means.insert(m.means().begin(), m.means().end());
  return out;
}

void ToProto(const LogisticModel& model, v1::LogisticParameters* out) {
  out->set_intercept(model.intercept);
  for (const auto& [name, w] : model.weights) (*out->mutable_weights())[name] = w;
  for (const auto& [name, m] : model.means) (*out->mutable_means())[name] = m;
}

absl::StatusOr<Model> FromProto(const v1::ScoringModel& m) {
  Model model;
  model.version = m.version();
  if (m.has_purchase()) {
    const v1::PurchaseModelParameters& p = m.purchase();
    if (p.time_unit() == "day") {
      model.purchase.time_unit = TimeUnit::kDay;
    } else if (p.time_unit() == "week") {
      model.purchase.time_unit = TimeUnit::kWeek;
    } else {
      return absl::InvalidArgumentError("purchase.time_unit must be \"day\" or \"week\", not \"" +
                                        p.time_unit() + "\"");
    }
    model.purchase.merge_same_day = p.merge_same_day();
    if (p.model().empty()) {
      model.purchase.kind = PurchaseModelKind::kBgNbd;
    } else if (auto kind = PurchaseModelKindFromName(p.model())) {
      model.purchase.kind = *kind;
    } else {
      return absl::InvalidArgumentError(
          "purchase.model must be \"BG_NBD\" or \"PARETO_NBD\", not \"" +
          BoundedText(p.model(), kMaxEchoedBytes) + "\"");
    }
    // The selected model's parameters are required (absent, they are zeros and
    // fail validation); the other's keep the built-in ones when left out.
    const bool pareto = model.purchase.kind == PurchaseModelKind::kParetoNbd;
    if (!pareto || p.has_bgnbd()) {
      model.purchase.bgnbd = {p.bgnbd().r(), p.bgnbd().alpha(), p.bgnbd().a(), p.bgnbd().b()};
    }
    if (pareto || p.has_pareto_nbd()) {
      const v1::ParetoNbdParameters& pn = p.pareto_nbd();
      model.purchase.pareto_nbd = {pn.r(), pn.alpha(), pn.s(), pn.beta()};
    }
    model.purchase.gamma_gamma = {p.gamma_gamma().p(), p.gamma_gamma().q(),
                                  p.gamma_gamma().gamma()};
  }
  if (m.has_value()) {
    const v1::ValueParameters& v = m.value();
    model.value.margin = v.margin();
    model.value.annual_discount_rate = v.annual_discount_rate();
    model.value.clv_horizon_days = v.clv_horizon_days();
    model.value.profitability_threshold = v.profitability_threshold();
    model.value.potential_threshold = v.potential_threshold();
    for (const auto& [name, cost] : v.contact_cost()) {
      const std::optional<Channel> channel = ParseChannel(name);
      if (!channel || *channel == Channel::kUnspecified) {
        return absl::InvalidArgumentError("value.contact_cost: unknown channel \"" +
                                          BoundedText(name, kMaxEchoedBytes) + "\"");
      }
      model.value.contact_cost[static_cast<int>(*channel)] = cost;
    }
    if (v.has_return_cost()) model.value.return_cost = v.return_cost();
    if (v.has_complaint_cost()) model.value.complaint_cost = v.complaint_cost();
  }
  if (m.has_lifecycle()) {
    const v1::LifecycleParameters& l = m.lifecycle();
    model.lifecycle.maturity_min_transactions = l.maturity_min_transactions();
    model.lifecycle.decline_rhythm_factor = l.decline_rhythm_factor();
    model.lifecycle.decline_min_days = l.decline_min_days();
    model.lifecycle.single_purchase_decline_days = l.single_purchase_decline_days();
    if (l.has_lost_p_alive()) model.lifecycle.lost_p_alive = l.lost_p_alive();
  }
  if (m.has_churn()) {
    model.churn.horizon_days = m.churn().horizon_days();
    model.churn.logistic = FromProto(m.churn().logistic());
  }
  for (const v1::AppetenceParameters& a : m.appetence()) {
    model.appetence.push_back({a.product(), a.category(), FromProto(a.logistic())});
  }
  model.catalogue.insert(m.catalogue().begin(), m.catalogue().end());
  if (m.has_max_reasons()) model.max_reasons = m.max_reasons();
  if (m.has_min_reason_weight()) model.min_reason_weight = m.min_reason_weight();
  return model;
}

}  // namespace

absl::StatusOr<Model> ParseModelJson(std::string_view json) {
  v1::ScoringModel message;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a misspelt key is an error, not a default
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &message, options);
  if (!parsed.ok()) {
    // One line: the parser's message may quote the text around the error.
    std::string why(parsed.message());
    why = why.substr(0, why.find('\n'));
    return absl::InvalidArgumentError("not a model file: " + why);
  }
  absl::StatusOr<Model> model = FromProto(message);
  if (!model.ok()) return model.status();
  if (absl::Status valid = ValidateModel(*model); !valid.ok()) return valid;
  return model;
}

absl::StatusOr<Model> LoadModelFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read model file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  absl::StatusOr<Model> model = ParseModelJson(text.str());
  if (!model.ok()) {
    return absl::Status(model.status().code(), path + ": " + std::string(model.status().message()));
  }
  return model;
}

std::string ModelToJson(const Model& model, std::string_view description) {
  v1::ScoringModel m;
  m.set_version(model.version);
  m.set_description(std::string(description));
  v1::PurchaseModelParameters* p = m.mutable_purchase();
  p->set_time_unit(std::string(TimeUnitName(model.purchase.time_unit)));
  p->set_merge_same_day(model.purchase.merge_same_day);
  p->mutable_bgnbd()->set_r(model.purchase.bgnbd.r);
  p->mutable_bgnbd()->set_alpha(model.purchase.bgnbd.alpha);
  p->mutable_bgnbd()->set_a(model.purchase.bgnbd.a);
  p->mutable_bgnbd()->set_b(model.purchase.bgnbd.b);
  p->set_model(std::string(PurchaseModelKindName(model.purchase.kind)));
  p->mutable_pareto_nbd()->set_r(model.purchase.pareto_nbd.r);
  p->mutable_pareto_nbd()->set_alpha(model.purchase.pareto_nbd.alpha);
  p->mutable_pareto_nbd()->set_s(model.purchase.pareto_nbd.s);
  p->mutable_pareto_nbd()->set_beta(model.purchase.pareto_nbd.beta);
  p->mutable_gamma_gamma()->set_p(model.purchase.gamma_gamma.p);
  p->mutable_gamma_gamma()->set_q(model.purchase.gamma_gamma.q);
  p->mutable_gamma_gamma()->set_gamma(model.purchase.gamma_gamma.gamma);
  v1::ValueParameters* v = m.mutable_value();
  v->set_margin(model.value.margin);
  v->set_annual_discount_rate(model.value.annual_discount_rate);
  v->set_clv_horizon_days(model.value.clv_horizon_days);
  v->set_profitability_threshold(model.value.profitability_threshold);
  v->set_potential_threshold(model.value.potential_threshold);
  for (int c = 1; c < kChannelCount; ++c) {
    (*v->mutable_contact_cost())[std::string(ChannelName(static_cast<Channel>(c)))] =
        model.value.contact_cost[c];
  }
  v->set_return_cost(model.value.return_cost);
  v->set_complaint_cost(model.value.complaint_cost);
  v1::LifecycleParameters* l = m.mutable_lifecycle();
  l->set_maturity_min_transactions(model.lifecycle.maturity_min_transactions);
  l->set_decline_rhythm_factor(model.lifecycle.decline_rhythm_factor);
  l->set_decline_min_days(model.lifecycle.decline_min_days);
  l->set_single_purchase_decline_days(model.lifecycle.single_purchase_decline_days);
  l->set_lost_p_alive(model.lifecycle.lost_p_alive);
  m.mutable_churn()->set_horizon_days(model.churn.horizon_days);
  ToProto(model.churn.logistic, m.mutable_churn()->mutable_logistic());
  for (const AppetenceModel& offer : model.appetence) {
    v1::AppetenceParameters* a = m.add_appetence();
    a->set_product(offer.product);
    a->set_category(offer.category);
    ToProto(offer.logistic, a->mutable_logistic());
  }
  for (const auto& [product, category] : model.catalogue)
    (*m.mutable_catalogue())[product] = category;
  m.set_max_reasons(model.max_reasons);
  m.set_min_reason_weight(model.min_reason_weight);

  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(m, &json, options);
  return json;
}

}  // namespace crm
