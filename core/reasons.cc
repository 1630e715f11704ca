#include "core/reasons.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <optional>

namespace crm {
namespace {

constexpr int kNoFeature = -1;

struct ReasonText {
  std::string code;
  std::string sentence;  // empty: the fact has nothing to say here
};

// One feature of a fact: its index in the feature names, and +1 if it grows
// with the fact as the sentence measures it, -1 if it falls.
struct Member {
  int feature = kNoFeature;
  int orientation = 1;
};

// A fact and the features that say it; the first the model weighs is the
// reference that places the customer against the typical one.
struct FactSpec {
  std::array<Member, 3> members;
  bool reads_above = false;  // the fact reads as a reason when above typical
  bool reads_below = false;  // … when below
};

// Churn features (features.h): 0 log_expected_purchases, 1 p_alive,
// 2 recency_vs_rhythm, 3 log_recency_days, 4 log_transactions, 5 log_monetary,
// 6 log_tenure_days, 7 recent_complaints, 8 dissatisfaction, 9 contact_decline,
// 10 recent_cancellation, 11 return_rate, 12 recent_transactions,
// 13 half_year_transactions, 14 one_time_buyer, 15 recency_x_frequency,
// 16 logit_no_purchase.
enum ChurnFact : int {
  kRecency,
  kOutlook,
  kFrequency,
  kRecentPurchases,
  kMonetary,
  kTenure,
  kComplaints,
  kSatisfaction,
  kContactDecline,
  kCancellation,
  kReturns,
  kChurnFactCount,
};
constexpr std::array<FactSpec, kChurnFactCount> kChurnFacts = {{
    {{{{3, 1}, {2, 1}, {15, 1}}}, true, false},   // since the last purchase: longer
    {{{{0, 1}, {16, -1}, {1, 1}}}, false, true},  // purchases the purchase model expects: fewer
    {{{{4, 1}, {14, -1}}}, false, true},          // purchases so far: fewer
    {{{{12, 1}, {13, 1}}}, false, true},          // recent purchases: fewer
    {{{{5, 1}}}, false, true},                    // spent per purchase: less
    {{{{6, 1}}}, false, true},                    // tenure: shorter
    {{{{7, 1}}}, true, false},                    // complaints: more
    {{{{8, 1}}}, true, false},                    // dissatisfaction: more
    {{{{9, 1}}}, true, false},                    // contact decline: more
    {{{{10, 1}}}, true, false},                   // a recent cancellation
    {{{{11, 1}}}, true, false},                   // return rate: higher
}};

// Appetence features: 0 product_interest, 1 owns_product, 2 related_purchases,
// 3 campaign_responses, 4 log_recency_days, 5 log_transactions,
// 6 log_monetary, 7 p_alive; one fact each.
constexpr std::array<FactSpec, 8> kAppetenceFacts = {{
    {{{{0, 1}}}, true, false},  // interest shown: more
    {{{{1, 1}}}, true, true},   // owns it (a refill) or not (a first purchase)
    {{{{2, 1}}}, true, false},  // related purchases: more
    {{{{3, 1}}}, true, false},  // campaign responses: more
    {{{{4, 1}}}, false, true},  // since the last purchase: shorter
    {{{{5, 1}}}, true, false},  // purchases so far: more
    {{{{6, 1}}}, true, false},  // spent per purchase: more
    {{{{7, 1}}}, true, false},  // P(alive): higher
}};

// Where a fact stands for one customer under one model.
struct Placed {
  double weight = 0;   // Σ w × (value − mean) over its features
  int reference = 0;   // the feature that places it
  double typical = 0;  // the model's mean of the reference feature
  ReasonDirection direction = ReasonDirection::kAbove;
};

double Lookup(const std::map<std::string, double, std::less<>>& table, std::string_view name) {
  auto it = table.find(name);
  return it == table.end() ? 0 : it->second;
}

// nullopt when the model weighs none of the fact's features, the reference
// is missing, or the customer stands exactly at the typical value.
std::optional<Placed> Place(const FactSpec& spec, const LogisticModel& model,
                            std::span<const std::string_view> names,
                            std::span<const double> values) {
  Placed placed;
  std::optional<double> delta;
  for (const Member& m : spec.members) {
    if (m.feature == kNoFeature) continue;
    const auto i = static_cast<std::size_t>(m.feature);
    const double w = Lookup(model.weights, names[i]);
    if (w == 0) continue;
    const double mean = Lookup(model.means, names[i]);
    const double value = values[i];
    if (!delta) {
      if (std::isnan(value)) return std::nullopt;  // missing: no reason
      placed.reference = m.feature;
      placed.typical = mean;
      delta = m.orientation * (value - mean);
    }
    if (!std::isnan(value)) placed.weight += w * (value - mean);
  }
  if (!delta || *delta == 0) return std::nullopt;
  placed.direction = *delta > 0 ? ReasonDirection::kAbove : ReasonDirection::kBelow;
  const bool reads =
      placed.direction == ReasonDirection::kAbove ? spec.reads_above : spec.reads_below;
  if (!reads || !(placed.weight > 0)) return std::nullopt;
  return placed;
}

std::string Format(const char* format, double a, double b = 0) {
  char buffer[200];
  std::snprintf(buffer, sizeof buffer, format, a, b);
  return buffer;
}

std::string Count(double n, std::string_view one, std::string_view many) {
  return Format("%.0f ", n) + std::string(n == 1 ? one : many);
}

// "today", "1 day ago", "12 days ago".
std::string DaysAgo(double days) {
  const double whole = std::round(days);
  return whole == 0 ? "today" : Count(whole, "day", "days") + " ago";
}

// The typical value of a log(1 + x) feature, in x.
double FromLog1p(double mean) { return std::expm1(mean); }

ReasonText RecencyText(const CustomerFacts& f, const Placed& p) {
  if (!f.has_purchase) {
    return {"NO_PURCHASE_YET", "has not bought yet; first seen " + DaysAgo(f.tenure_days)};
  }
  if (f.rhythm_days > 0 && f.recency_days > f.rhythm_days) {
    return {"PURCHASE_RECENCY",
            Format("no purchase for %.0f days; usually every %.0f", f.recency_days, f.rhythm_days)};
  }
  if (p.reference == 3) {
    return {"PURCHASE_RECENCY", Format("no purchase for %.0f days; typically %.0f", f.recency_days,
                                       FromLog1p(p.typical))};
  }
  if (f.transactions == 1) {
    return {"PURCHASE_RECENCY", "a single purchase, " + DaysAgo(f.recency_days)};
  }
  return {"PURCHASE_RECENCY", Format("no purchase for %.0f days", f.recency_days)};
}

ReasonText OutlookText(const CustomerFacts& f, const Placed& p) {
  if (!f.has_purchase) return {"NO_PURCHASE_YET", "has not bought yet"};
  switch (p.reference) {
    case 0:
      return {"FEW_PURCHASES_EXPECTED",
              Format("%.1f purchases expected in the coming months; typically %.1f",
                     f.expected_purchases, std::exp(p.typical) - 0.05)};
    case 16:
      return {"FEW_PURCHASES_EXPECTED",
              Format("%.0f%% likely to buy nothing in the coming months; typically %.0f%%",
                     100 * f.p_no_purchase, 100 / (1 + std::exp(-p.typical)))};
    default:
      return {"FEW_PURCHASES_EXPECTED",
              Format("%.0f%% likely still an active buyer; typically %.0f%%", 100 * f.p_alive,
                     100 * p.typical)};
  }
}

ReasonText FrequencyText(const CustomerFacts& f, const Placed& p) {
  if (f.transactions == 0) return {"FEW_PURCHASES", "no purchase so far"};
  if (p.reference == 14 || f.transactions == 1)
    return {"FEW_PURCHASES", "a single purchase so far"};
  return {"FEW_PURCHASES", "only " +
                               Count(static_cast<double>(f.transactions), "purchase", "purchases") +
                               Format(" so far; typically %.0f", FromLog1p(p.typical))};
}

ReasonText RecentPurchasesText(const CustomerFacts& f, const Placed& p) {
  const bool quarter = p.reference == 12;
  const int n = quarter ? f.transactions_90d : f.transactions_180d;
  const double window = quarter ? 90 : 180;
  if (n == 0) {
    return {"FEW_RECENT_PURCHASES", Format("no purchase in the last %.0f days; typically %.1f",
                                           window, FromLog1p(p.typical))};
  }
  return {"FEW_RECENT_PURCHASES",
          "only " + Count(n, "purchase", "purchases") +
              Format(" in the last %.0f days; typically %.1f", window, FromLog1p(p.typical))};
}

ReasonText ChurnText(int fact, const CustomerFacts& f, const Placed& p) {
  switch (fact) {
    case kRecency:
      return RecencyText(f, p);
    case kOutlook:
      return OutlookText(f, p);
    case kFrequency:
      return FrequencyText(f, p);
    case kRecentPurchases:
      return RecentPurchasesText(f, p);
    case kMonetary:
      if (!f.has_purchase) return {"NO_PURCHASE_YET", "has not bought yet"};
      if (f.monetary <= 0) {
        return {"LOW_PURCHASE_VALUE", Format("returns outweigh purchases; typically %.2f spent "
                                             "per purchase",
                                             FromLog1p(p.typical))};
      }
      return {"LOW_PURCHASE_VALUE", Format("only %.2f spent per purchase; typically %.2f",
                                           f.monetary, FromLog1p(p.typical))};
    case kTenure:
      return {"NEW_CUSTOMER", "customer for only " +
                                  Count(std::round(f.tenure_days), "day", "days") +
                                  Format("; typically %.0f", FromLog1p(p.typical))};
    case kComplaints:
      if (f.complaints_recent == 0) return {};
      return {"COMPLAINTS_RECENT",
              Count(f.complaints_recent, "complaint", "complaints") + " in the last 90 days" +
                  (f.days_since_complaint ? ", latest " + DaysAgo(*f.days_since_complaint) : "")};
    case kSatisfaction:
      if (!f.latest_satisfaction) return {};
      return {"LOW_SATISFACTION", Format("latest satisfaction %.0f/10; typically %.0f/10",
                                         *f.latest_satisfaction, 10 - 10 * p.typical)};
    case kContactDecline:
      if (f.declining_channel == Channel::kUnspecified) return {};
      return {"CONTACT_DECLINE", "contact on " + std::string(ChannelName(f.declining_channel)) +
                                     Format(" down %.0f%% from usual", 100 * f.contact_decline)};
    case kCancellation:
      if (!f.days_since_cancellation) return {};
      return {"CANCELLATION", "cancelled " + DaysAgo(*f.days_since_cancellation)};
    case kReturns:
      return {"RETURNS", Count(static_cast<double>(f.returns), "return", "returns") + " for " +
                             Count(static_cast<double>(f.transactions), "purchase", "purchases") +
                             Format("; typically %.0f%% returned", 100 * p.typical)};
    default:
      return {};
  }
}

ReasonText AppetenceText(int fact, const CustomerFacts& f, const ProductFacts& product,
                         const std::string& code, const Placed& p) {
  switch (fact) {
    case 0:
      if (!product.days_since_interaction || product.interactions == 0) return {};
      return {"PRODUCT_INTEREST",
              "asked about " + code + " " +
                  Count(static_cast<double>(product.interactions), "time", "times") + ", latest " +
                  DaysAgo(*product.days_since_interaction)};
    case 1:
      return product.owns ? ReasonText{"OWNS_PRODUCT", "already has " + code}
                          : ReasonText{"DOES_NOT_OWN", "does not have " + code + " yet"};
    case 2:
      if (product.related_purchases == 0) return {};
      return {"RELATED_PURCHASES",
              Count(static_cast<double>(product.related_purchases), "purchase", "purchases") +
                  " of related products"};
    case 3:
      if (f.campaign_responses == 0) return {};
      return {"CAMPAIGN_RESPONSES",
              "responded to " +
                  Count(static_cast<double>(f.campaign_responses), "campaign", "campaigns")};
    case 4:
      if (!f.has_purchase) {
        return {"NEW_CONTACT", "first seen " + DaysAgo(f.tenure_days)};
      }
      return {"RECENT_PURCHASE", Format("last purchase %.0f days ago; typically %.0f",
                                        f.recency_days, FromLog1p(p.typical))};
    case 5:
      if (f.transactions == 0) return {};
      return {"PURCHASE_FREQUENCY",
              Count(static_cast<double>(f.transactions), "purchase", "purchases") +
                  Format(" so far; typically %.0f", FromLog1p(p.typical))};
    case 6:
      if (!f.has_purchase || f.monetary <= 0) return {};
      return {"PURCHASE_VALUE",
              Format("%.2f spent per purchase; typically %.2f", f.monetary, FromLog1p(p.typical))};
    case 7:
      return {"PROBABILITY_ACTIVE", Format("%.0f%% likely still an active buyer; typically %.0f%%",
                                           100 * f.p_alive, 100 * p.typical)};
    default:
      return {};
  }
}

// Largest first, one per sentence (a repeated sentence's weights summed), at
// least `limits.min_weight`, at most `limits.max_reasons`.
std::vector<Reason> Finish(std::vector<Reason> all, ReasonLimits limits) {
  std::vector<Reason> merged;
  for (Reason& r : all) {
    if (r.sentence.empty()) continue;
    auto same = std::find_if(merged.begin(), merged.end(),
                             [&](const Reason& m) { return m.sentence == r.sentence; });
    if (same != merged.end()) {
      same->weight += r.weight;
    } else {
      merged.push_back(std::move(r));
    }
  }
  std::erase_if(merged,
                [&](const Reason& r) { return !(r.weight > 0 && r.weight >= limits.min_weight); });
  std::stable_sort(merged.begin(), merged.end(),
                   [](const Reason& a, const Reason& b) { return a.weight > b.weight; });
  if (merged.size() > static_cast<std::size_t>(std::max(0, limits.max_reasons))) {
    merged.resize(static_cast<std::size_t>(std::max(0, limits.max_reasons)));
  }
  return merged;
}

}  // namespace

std::vector<Reason> ChurnReasons(const LogisticModel& model, std::span<const double> values,
                                 const CustomerFacts& facts, ReasonLimits limits) {
  std::vector<Reason> all;
  for (int fact = 0; fact < kChurnFactCount; ++fact) {
    const std::optional<Placed> placed =
        Place(kChurnFacts[static_cast<std::size_t>(fact)], model, kChurnFeatureNames, values);
    if (!placed) continue;
    ReasonText text = ChurnText(fact, facts, *placed);
    all.push_back(
        {std::move(text.code), std::move(text.sentence), placed->weight, placed->direction});
  }
  return Finish(std::move(all), limits);
}

std::vector<Reason> AppetenceReasons(const LogisticModel& model, std::span<const double> values,
                                     const CustomerFacts& facts, const ProductFacts& product,
                                     std::string_view product_code, ReasonLimits limits) {
  const std::string code(product_code);
  std::vector<Reason> all;
  for (std::size_t fact = 0; fact < kAppetenceFacts.size(); ++fact) {
    const std::optional<Placed> placed =
        Place(kAppetenceFacts[fact], model, kAppetenceFeatureNames, values);
    if (!placed) continue;
    ReasonText text = AppetenceText(static_cast<int>(fact), facts, product, code, *placed);
    all.push_back(
        {std::move(text.code), std::move(text.sentence), placed->weight, placed->direction});
  }
  return Finish(std::move(all), limits);
}

std::vector<ScoreReason> ToScoreReasons(std::vector<Reason> reasons) {
  std::vector<ScoreReason> out;
  out.reserve(reasons.size());
  for (Reason& r : reasons) out.push_back({std::move(r.code), std::move(r.sentence), r.weight});
  return out;
}

}  // namespace crm
