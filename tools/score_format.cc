#include "tools/score_format.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <vector>

namespace crm {
namespace {

using Row = std::vector<std::string>;

std::string Fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string Signed(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%+.2f", value);
  return text;
}

std::string Time(const google::protobuf::Timestamp& at) {
  return google::protobuf::util::TimeUtil::ToString(at);
}

std::string ChannelName(v1::Channel channel) {
  return channel == v1::CHANNEL_UNSPECIFIED ? "-" : v1::Channel_Name(channel);
}

std::string OrDash(const std::string& text) { return text.empty() ? "-" : text; }

// Rows with their columns padded to the widest cell, two spaces apart, the
// last column unpadded; each row on a line of its own, after `indent`.
std::string Columns(const std::vector<Row>& rows, const std::string& indent = "") {
  std::vector<std::size_t> width;
  for (const Row& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  for (const Row& row : rows) {
    out += indent;
    for (std::size_t c = 0; c < row.size(); ++c) {
      out += row[c];
      if (c + 1 < row.size()) out.append(width[c] - row[c].size() + 2, ' ');
    }
    out += '\n';
  }
  return out;
}

// The strongest reason for the score: the largest contribution towards it
// (a churn's reason that makes leaving likelier, an appetence's that makes
// buying likelier); null when every reason weighs against it.
const v1::Reason* Strongest(const google::protobuf::RepeatedPtrField<v1::Reason>& reasons) {
  const v1::Reason* best = nullptr;
  for (const v1::Reason& reason : reasons) {
    if (reason.weight() > 0 && (best == nullptr || reason.weight() > best->weight())) {
      best = &reason;
    }
  }
  return best;
}

// The channels the customer may be contacted on now, or "-".
std::string ContactableList(const v1::CustomerScores& s) {
  std::string list;
  for (int channel : s.contactable_channels()) {
    if (!list.empty()) list += ", ";
    list += ChannelName(static_cast<v1::Channel>(channel));
  }
  return list.empty() ? "- (no consent in force)" : list;
}

std::string StrongestSentence(const google::protobuf::RepeatedPtrField<v1::Reason>& reasons) {
  const v1::Reason* reason = Strongest(reasons);
  return reason == nullptr ? "-" : reason->sentence();
}

}  // namespace

std::string FreshnessLine(const v1::Freshness& f) {
  std::string line = "answered by " + (f.served_by().empty() ? "this instance" : f.served_by());
  if (f.forwarded()) line += " (forwarded)";
  line += ", partition " + std::to_string(f.partition());
  if (f.partition_count() > 0) line += " of " + std::to_string(f.partition_count());
  line += f.lag() < 0 ? ", lag unknown" : ", " + std::to_string(f.lag()) + " touchpoints behind";
  if (f.has_updated_at()) line += ", up to date at " + Time(f.updated_at());
  if (f.partition_count() > 0 && f.population_partitions() < f.partition_count()) {
    line += "; ranked against " + std::to_string(f.population_partitions()) + " partitions only";
  }
  return line + "\n";
}

std::string ScoresTable(const v1::CustomerScores& s) {
  const v1::Rfm& rfm = s.rfm();
  const std::string recency =
      rfm.recency_days() < 0 ? "never bought" : Fixed(rfm.recency_days(), 1) + " days";
  std::string out = Columns({
      {"customer", s.customer_id()},
      {"as of", Time(s.as_of())},
      {"churn", s.has_churn()
                    ? Fixed(s.churn(), 3) + " over " + Fixed(s.churn_horizon_days(), 0) + " days"
                    : "- (a prospect: nothing bought yet)"},
      {"value at risk", Fixed(s.value_at_risk(), 2)},
      {"p(alive)", Fixed(s.p_alive(), 3)},
      {"expected purchases", Fixed(s.expected_purchases(), 2)},
      {"expected spend", Fixed(s.expected_spend(), 2) + " per purchase"},
      {"clv", Fixed(s.clv(), 2)},
      {"past profitability", Fixed(s.past_profitability(), 2)},
      {"cost to serve", Fixed(s.cost_to_serve(), 2)},
      {"lifetime value", Fixed(s.lifetime_value(), 2) + " (past profit - cost to serve + clv)"},
      {"segment", OrDash(s.segment())},
      {"value quadrant", OrDash(s.value_quadrant())},
      {"value strategy", OrDash(s.value_strategy())},
      {"lifecycle stage", OrDash(s.lifecycle_stage())},
      {"preferred channel", ChannelName(s.preferred_channel())},
      {"contactable on", ContactableList(s)},
      {"satisfaction", s.has_latest_satisfaction()
                           ? std::to_string(s.latest_satisfaction()) + "/10 (latest survey)"
                           : "- (no survey answered)"},
      {"complaints", std::to_string(s.complaints_90d()) + " in the last 90 days"},
      {"rfm", "recency " + recency + ", frequency " + std::to_string(rfm.frequency()) +
                  ", monetary " + Fixed(rfm.monetary(), 2) + " (R" + std::to_string(rfm.r_score()) +
                  " F" + std::to_string(rfm.f_score()) + " M" + std::to_string(rfm.m_score()) +
                  " T" + std::to_string(rfm.t_score()) + ")"},
      {"events applied", std::to_string(s.events_applied())},
      {"model", OrDash(s.model_version())},
  });
  if (s.has_freshness()) out += FreshnessLine(s.freshness());
  out += "\nwhy this churn\n";
  if (s.reasons().empty()) {
    out += "  (no reason given)\n";
  } else {
    std::vector<Row> rows;
    for (const v1::Reason& reason : s.reasons()) {
      rows.push_back({Signed(reason.weight()), reason.code(), reason.sentence()});
    }
    out += Columns(rows, "  ");
  }
  if (!s.appetence_details().empty() || !s.appetence().empty()) {
    out += "\nappetence\n";
    std::vector<Row> rows;
    if (!s.appetence_details().empty()) {
      for (const v1::Appetence& a : s.appetence_details()) {
        rows.push_back({a.product(), Fixed(a.probability(), 3), StrongestSentence(a.reasons())});
      }
    } else {
      // Only the map: in product order, for a stable table.
      std::vector<std::pair<std::string, double>> sorted(s.appetence().begin(),
                                                         s.appetence().end());
      std::sort(sorted.begin(), sorted.end());
      for (const auto& [product, p] : sorted) rows.push_back({product, Fixed(p, 3), "-"});
    }
    out += Columns(rows, "  ");
  }
  return out;
}

std::string AtRiskTable(const v1::ListAtRiskCustomersResponse& response) {
  if (response.customers().empty()) return "no customer at risk\n";
  std::vector<Row> rows = {
      {"#", "customer", "churn", "value at risk", "segment", "quadrant", "stage", "why"}};
  int rank = 0;
  for (const v1::CustomerScores& s : response.customers()) {
    rows.push_back({std::to_string(++rank), s.customer_id(), Fixed(s.churn(), 3),
                    Fixed(s.value_at_risk(), 2), OrDash(s.segment()), OrDash(s.value_quadrant()),
                    OrDash(s.lifecycle_stage()), StrongestSentence(s.reasons())});
  }
  return Columns(rows);
}

std::string AlertLine(const v1::ChurnAlert& alert) {
  std::ostringstream out;
  out << Time(alert.raised_at()) << "  " << alert.alert_id() << "  " << alert.customer_id();
  if (alert.transition() == v1::ALERT_TRANSITION_CLEARED) {
    out << "  CLEARED (" << OrDash(alert.cleared_reason()) << ")";
  }
  out << "  churn " << Fixed(alert.previous_churn(), 3) << " -> " << Fixed(alert.churn(), 3) << "  "
      << OrDash(alert.recommended_action()) << " via " << ChannelName(alert.recommended_channel())
      << "  segment " << OrDash(alert.segment());
  if (alert.control()) {
    out << "  (control group: no proactive contact)";
  } else if (!alert.for_marketing()) {
    out << "  (agents only: " << OrDash(alert.not_for_marketing_reason()) << ")";
  }
  out << "  " << StrongestSentence(alert.reasons());
  return out.str();
}

std::string ToJson(const google::protobuf::Message& message, bool one_line) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = !one_line;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) return "{}";
  if (!one_line && !json.empty() && json.back() == '\n') json.pop_back();
  return json;
}

}  // namespace crm
