// Every feature of every shipped model (the built-in one and models/demo.json,
// loaded as the service loads it) against the reason rule of core/reasons.h:
// a reason only when its fact raises the score, and then the sentence for the
// side of the typical customer the customer is on, never one that reads as a
// reason to stay.

// GCC 12 warns, wrongly, that std::regex's std::function members may be used
// uninitialised when it compiles <regex> with the sanitizers' flags
// (scripts/sanitize.sh); clang has no such warning.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "core/features.h"
#include "core/model.h"
#include "core/reasons.h"
#include "services/model/model_file.h"

namespace crm {
namespace {

constexpr ReasonDirection kAbove = ReasonDirection::kAbove;
constexpr ReasonDirection kBelow = ReasonDirection::kBelow;

// A sentence a fact may say, and how its numbers compare: group 1 the
// customer's, group 2 the typical customer's; `rises` +1 if the first number
// grows with the fact, -1 if it falls, 0 if the sentence quotes no pair.
struct Pattern {
  const char* regex;
  int rises = 0;
};

// What the features of one fact may say, written here apart from the code:
// the one side of the typical customer on which the fact reads as a reason,
// and the sentences for it.
struct Expected {
  std::vector<int> features;
  std::vector<int> orientation;  // +1 if the feature grows with the fact, -1 if it falls
  ReasonDirection reads;
  std::vector<Pattern> sentences;
};

const std::vector<Expected>& ChurnTable() {
  static const std::vector<Expected> table = {
      {{2, 3, 15},
       {1, 1, 1},
       kAbove,
       {{R"(^no purchase for (\d+) days; usually every (\d+)$)", 1},
        {R"(^no purchase for (\d+) days; typically (\d+)$)", 1},
        {R"(^no purchase for \d+ days$)"},
        {R"(^a single purchase, (today|1 day ago|\d+ days ago)$)"},
        {R"(^has not bought yet; first seen (today|1 day ago|\d+ days ago)$)"}}},
      {{0, 16, 1},
       {1, -1, 1},
       kBelow,
       {{R"(^(\d+\.\d) purchases expected in the coming months; typically (-?\d+\.\d)$)", 1},
        {R"(^(\d+)% likely to buy nothing in the coming months; typically (\d+)%$)", -1},
        {R"(^(\d+)% likely still an active buyer; typically (\d+)%$)", 1},
        {R"(^has not bought yet$)"}}},
      {{4, 14},
       {1, -1},
       kBelow,
       {{R"(^only ([1-9]\d*) purchases? so far; typically (\d+)$)", 1},
        {R"(^a single purchase so far$)"},
        {R"(^no purchase so far$)"}}},
      {{12, 13},
       {1, 1},
       kBelow,
       {{R"(^only ([1-9]\d*) purchases? in the last \d+ days; typically (\d+\.\d)$)", 1},
        {R"(^no purchase in the last \d+ days; typically \d+\.\d$)"}}},
      {{5},
       {1},
       kBelow,
       {{R"(^only (\d+\.\d\d) spent per purchase; typically (\d+\.\d\d)$)", 1},
        {R"(^returns outweigh purchases; typically \d+\.\d\d spent per purchase$)"},
        {R"(^has not bought yet$)"}}},
      {{6}, {1}, kBelow, {{R"(^customer for only (\d+) days?; typically (\d+)$)", 1}}},
      {{7},
       {1},
       kAbove,
       {{R"(^[1-9]\d* complaints? in the last 90 days(, latest (today|1 day ago|\d+ days ago))?$)"}}},
      {{8}, {1}, kAbove, {{R"(^latest satisfaction (\d+)/10; typically (-?\d+)/10$)", -1}}},
      {{9}, {1}, kAbove, {{R"(^contact on [A-Z_]+ down \d+% from usual$)"}}},
      {{10}, {1}, kAbove, {{R"(^cancelled (today|1 day ago|\d+ days ago)$)"}}},
      {{11}, {1}, kAbove, {{R"(^\d+ returns? for \d+ purchases?; typically \d+% returned$)"}}},
  };
  return table;
}

const std::vector<Expected>& AppetenceTable() {
  static const std::vector<Expected> table = {
      {{0},
       {1},
       kAbove,
       {{R"(^asked about \S+ [1-9]\d* times?, latest (today|1 day ago|\d+ days ago)$)"}}},
      {{1}, {1}, kAbove, {{R"(^already has \S+$)"}}},
      {{1}, {1}, kBelow, {{R"(^does not have \S+ yet$)"}}},
      {{2}, {1}, kAbove, {{R"(^[1-9]\d* purchases? of related products$)"}}},
      {{3}, {1}, kAbove, {{R"(^responded to [1-9]\d* campaigns?$)"}}},
      {{4},
       {1},
       kBelow,
       {{R"(^last purchase (\d+) days ago; typically (\d+)$)", 1},
        {R"(^first seen (today|1 day ago|\d+ days ago)$)"}}},
      {{5}, {1}, kAbove, {{R"(^([1-9]\d*) purchases? so far; typically (\d+)$)", 1}}},
      {{6}, {1}, kAbove, {{R"(^(\d+\.\d\d) spent per purchase; typically (\d+\.\d\d)$)", 1}}},
      {{7}, {1}, kAbove, {{R"(^(\d+)% likely still an active buyer; typically (\d+)%$)", 1}}},
  };
  return table;
}

// The table's sentences, compiled once.
const std::regex& Compiled(const char* pattern) {
  static std::map<const char*, std::regex> compiled;
  auto it = compiled.find(pattern);
  if (it == compiled.end()) it = compiled.emplace(pattern, std::regex(pattern)).first;
  return it->second;
}

// Checks `reason` against the table: a sentence of a fact that reads on the
// reason's side, numbers on that side of the typical ones. Returns the entry.
const Expected* CheckSentence(const std::vector<Expected>& table, const Reason& reason) {
  for (const Expected& e : table) {
    for (const Pattern& p : e.sentences) {
      std::smatch m;
      if (!std::regex_match(reason.sentence, m, Compiled(p.regex))) continue;
      EXPECT_EQ(reason.direction, e.reads) << reason.sentence;
      if (p.rises != 0) {
        const double mine = std::stod(m[1].str()), typical = std::stod(m[2].str());
        const bool above = (reason.direction == kAbove) == (p.rises > 0);
        if (above) {
          EXPECT_GE(mine, typical) << reason.sentence;
        } else {
          EXPECT_LE(mine, typical) << reason.sentence;
        }
      }
      return &e;
    }
  }
  ADD_FAILURE() << "no sentence of the table reads \"" << reason.sentence << "\" (" << reason.code
                << ")";
  return nullptr;
}

// Customers of every kind, as facts: buyers and prospects, with and without
// surveys, complaints, cancellations, returns, a falling channel.
std::vector<CustomerFacts> FactsPool(std::uint32_t seed) {
  std::mt19937 random(seed);
  const auto uniform = [&](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(random);
  };
  const auto count = [&](int hi) { return std::uniform_int_distribution<int>(0, hi)(random); };
  std::vector<CustomerFacts> pool;
  for (int i = 0; i < 1500; ++i) {
    CustomerFacts f;
    f.has_purchase = i % 10 != 0;
    f.tenure_days = uniform(0, 900);
    if (f.has_purchase) {
      f.transactions = static_cast<std::uint64_t>(1 + (i % 3 == 0 ? 0 : count(60)));
      f.recency_days = uniform(0, f.tenure_days);
      if (f.transactions > 1) f.rhythm_days = uniform(1, 200);
      f.p_alive = uniform(0, 1);
      f.expected_purchases = uniform(0, 8);
      f.p_no_purchase = uniform(0, 1);
      f.monetary = uniform(-30, 2000);
      f.transactions_180d = count(static_cast<int>(std::min<std::uint64_t>(f.transactions, 12)));
      f.transactions_90d = count(f.transactions_180d);
      f.returns = static_cast<std::uint64_t>(count(static_cast<int>(f.transactions)));
      f.return_rate = static_cast<double>(f.returns) / static_cast<double>(f.transactions);
    }
    f.complaints_recent = count(4);
    if (f.complaints_recent > 0) f.days_since_complaint = uniform(0, 90);
    if (count(2) > 0) f.latest_satisfaction = count(10);
    if (count(1) > 0) {
      f.contact_decline = uniform(0.01, 1);
      f.declining_channel = static_cast<Channel>(1 + count(2));
    }
    if (count(3) == 0) f.days_since_cancellation = uniform(0, 200);
    f.campaign_responses = static_cast<std::uint64_t>(count(i % 2 == 0 ? 0 : 6));
    pool.push_back(f);
  }
  return pool;
}

std::vector<ProductFacts> ProductPool(std::size_t n, std::uint32_t seed) {
  std::mt19937 random(seed);
  std::vector<ProductFacts> pool(n);
  for (ProductFacts& p : pool) {
    if (random() % 2 == 0) {
      p.interactions = 1 + random() % 5;
      p.days_since_interaction = static_cast<double>(random() % 100);
    }
    p.owns = random() % 3 == 0;
    p.related_purchases = random() % 2 == 0 ? 0 : random() % 6;
  }
  return pool;
}

struct Shipped {
  std::string name;
  Model model;
};

std::vector<Shipped> ShippedModels() {
  std::vector<Shipped> models = {{"built-in", Model{}}};
  absl::StatusOr<Model> demo = LoadModelFile(CRM_TEST_DATA_DIR "/../../models/demo.json");
  EXPECT_TRUE(demo.ok()) << demo.status();
  if (demo.ok()) models.push_back({"models/demo.json", *std::move(demo)});
  return models;
}

const Expected& EntryOf(const std::vector<Expected>& table, int feature) {
  for (const Expected& e : table) {
    for (int f : e.features) {
      if (f == feature) return e;
    }
  }
  ADD_FAILURE() << "feature " << feature << " is in no fact of the table";
  return table.front();
}

int OrientationOf(const Expected& e, int feature) {
  for (std::size_t k = 0; k < e.features.size(); ++k) {
    if (e.features[k] == feature) return e.orientation[k];
  }
  return 1;
}

// One feature alone, with its shipped weight and its opposite, each customer
// above and below the shipped mean: a reason exactly when the contribution is
// positive and the fact reads on that side, with that side's sentence.
template <typename ReasonsOf, typename ValueOf>
void CheckEachFeatureAlone(const LogisticModel& shipped, std::span<const std::string_view> names,
                           const std::vector<Expected>& table, std::size_t customers,
                           ValueOf value_of, ReasonsOf reasons_of) {
  for (std::size_t feature = 0; feature < names.size(); ++feature) {
    const std::string name(names[feature]);
    auto w = shipped.weights.find(name);
    if (w == shipped.weights.end() || w->second == 0) continue;
    auto m = shipped.means.find(name);
    const double mean = m == shipped.means.end() ? 0 : m->second;
    SCOPED_TRACE(name);
    const Expected& entry = EntryOf(table, static_cast<int>(feature));
    int above = 0, below = 0, emitted = 0;
    for (double sign : {1.0, -1.0}) {
      LogisticModel alone;
      alone.weights[name] = sign * w->second;
      alone.means[name] = mean;
      for (std::size_t c = 0; c < customers; ++c) {
        const double value = value_of(c)[feature];
        const std::vector<Reason> reasons = reasons_of(alone, c);
        if (std::isnan(value) || value == mean) {
          EXPECT_TRUE(reasons.empty()) << "a missing or typical fact gives no reason";
          continue;
        }
        (value > mean ? above : below) += sign > 0 ? 1 : 0;
        const double contribution = sign * w->second * (value - mean);
        if (contribution <= 0) {
          EXPECT_TRUE(reasons.empty()) << reasons.front().sentence << " lowers the score";
          continue;
        }
        ASSERT_LE(reasons.size(), 1u);
        if (reasons.empty()) continue;
        ++emitted;
        const ReasonDirection side =
            OrientationOf(entry, static_cast<int>(feature)) * (value - mean) > 0 ? kAbove : kBelow;
        EXPECT_EQ(reasons[0].direction, side) << reasons[0].sentence;
        EXPECT_DOUBLE_EQ(reasons[0].weight, contribution);
        CheckSentence(table, reasons[0]);
      }
    }
    // The pool puts every feature on both sides, and each gives reasons.
    EXPECT_GT(above, 0);
    EXPECT_GT(below, 0);
    EXPECT_GT(emitted, 0);
  }
}

// The whole model: reasons raise the score, largest first, at most
// max_reasons, each sentence once and each a sentence of its side.
void CheckWholeModel(const std::vector<Reason>& reasons, const Model& model,
                     const std::vector<Expected>& table) {
  ASSERT_LE(reasons.size(), static_cast<std::size_t>(model.max_reasons));
  std::set<std::string> sentences;
  for (std::size_t i = 0; i < reasons.size(); ++i) {
    EXPECT_GT(reasons[i].weight, 0);
    EXPECT_GE(reasons[i].weight, model.min_reason_weight);
    if (i > 0) {
      EXPECT_GE(reasons[i - 1].weight, reasons[i].weight);
    }
    EXPECT_TRUE(sentences.insert(reasons[i].sentence).second)
        << "\"" << reasons[i].sentence << "\" twice";
    CheckSentence(table, reasons[i]);
  }
}

TEST(ShippedModelReasonsTest, NoChurnSentenceContradictsItsSign) {
  const std::vector<CustomerFacts> pool = FactsPool(19);
  std::vector<std::vector<double>> values;
  for (const CustomerFacts& f : pool) values.push_back(ChurnFeatures(f));
  for (const Shipped& shipped : ShippedModels()) {
    SCOPED_TRACE(shipped.name);
    const LogisticModel& churn = shipped.model.churn.logistic;
    ASSERT_FALSE(churn.weights.empty());
    CheckEachFeatureAlone(
        churn, kChurnFeatureNames, ChurnTable(), pool.size(),
        [&](std::size_t c) { return values[c]; },
        [&](const LogisticModel& alone, std::size_t c) {
          return ChurnReasons(alone, values[c], pool[c], {20, 0});
        });
    const ReasonLimits limits{shipped.model.max_reasons, shipped.model.min_reason_weight};
    std::size_t with_reasons = 0;
    for (std::size_t c = 0; c < pool.size(); ++c) {
      const std::vector<Reason> reasons = ChurnReasons(churn, values[c], pool[c], limits);
      with_reasons += reasons.empty() ? 0 : 1;
      CheckWholeModel(reasons, shipped.model, ChurnTable());
      CheckWholeModel(
          ChurnReasons(churn, values[c], pool[c], {20, 0}),
          [&] {
            Model all = shipped.model;
            all.max_reasons = 20;
            all.min_reason_weight = 0;
            return all;
          }(),
          ChurnTable());
    }
    EXPECT_GT(with_reasons, pool.size() / 2);
  }
}

TEST(ShippedModelReasonsTest, NoAppetenceSentenceContradictsItsSign) {
  const std::vector<CustomerFacts> pool = FactsPool(23);
  const std::vector<ProductFacts> products = ProductPool(pool.size(), 29);
  std::vector<std::vector<double>> values;
  for (std::size_t c = 0; c < pool.size(); ++c) {
    values.push_back(AppetenceFeatures(pool[c], products[c]));
  }
  for (const Shipped& shipped : ShippedModels()) {
    for (const AppetenceModel& offer : shipped.model.appetence) {
      SCOPED_TRACE(shipped.name + " " + offer.product);
      CheckEachFeatureAlone(
          offer.logistic, kAppetenceFeatureNames, AppetenceTable(), pool.size(),
          [&](std::size_t c) { return values[c]; },
          [&](const LogisticModel& alone, std::size_t c) {
            return AppetenceReasons(alone, values[c], pool[c], products[c], offer.product, {20, 0});
          });
      const ReasonLimits limits{shipped.model.max_reasons, shipped.model.min_reason_weight};
      for (std::size_t c = 0; c < pool.size(); ++c) {
        CheckWholeModel(AppetenceReasons(offer.logistic, values[c], pool[c], products[c],
                                         offer.product, limits),
                        shipped.model, AppetenceTable());
      }
    }
  }
}

}  // namespace
}  // namespace crm
