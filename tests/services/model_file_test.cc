#include "services/model/model_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "core/model.h"

namespace crm {
namespace {

using ::testing::HasSubstr;

// A model with every field away from its default.
Model FullModel() {
  Model m;
  m.version = "churn-2026-02";
  m.lifecycle = {.maturity_min_transactions = 5,
                 .decline_rhythm_factor = 3.5,
                 .decline_min_days = 40,
                 .single_purchase_decline_days = 120,
                 .lost_p_alive = 0.25};
  m.purchase.time_unit = TimeUnit::kDay;
  m.purchase.merge_same_day = false;
  m.purchase.bgnbd = {.r = 0.51, .alpha = 6.25, .a = 0.7, .b = 2.1};
  m.purchase.kind = PurchaseModelKind::kParetoNbd;
  m.purchase.pareto_nbd = {.r = 0.61, .alpha = 9.5, .s = 0.75, .beta = 12.25};
  m.purchase.gamma_gamma = {.p = 3.3, .q = 4.5, .gamma = 20.125};
  m.value = {.margin = 0.45,
             .annual_discount_rate = 0.07,
             .clv_horizon_days = 400,
             .profitability_threshold = 80,
             .potential_threshold = 90.5,
             .contact_cost = {0, 3.5, 0.25, 0.125, 1, 2, 0.5, 12, 1.5, 0.75},
             .return_cost = 7.5,
             .complaint_cost = 22};
  m.churn.horizon_days = 60;
  m.churn.logistic.intercept = -0.25;
  m.churn.logistic.weights = {{"p_alive", -1.2}, {"return_rate", 0.8}, {"contact_decline", 1e-3}};
  m.churn.logistic.means = {{"p_alive", 0.6}};
  AppetenceModel tv;
  tv.product = "TV";
  tv.category = "video";
  tv.logistic.intercept = -2;
  tv.logistic.weights = {{"product_interest", 1.5}, {"owns_product", -3}};
  tv.logistic.means = {{"product_interest", 0.2}};
  AppetenceModel radio;
  radio.product = "RADIO";
  radio.logistic.intercept = 0.1;
  radio.logistic.weights = {{"related_purchases", 0.75}};
  m.appetence = {tv, radio};
  m.catalogue = {{"TV", "video"}, {"PROJ", "video"}, {"RADIO", "audio"}};
  m.max_reasons = 5;
  m.min_reason_weight = 0.125;
  return m;
}

void ExpectSameLogistic(const LogisticModel& want, const LogisticModel& got) {
  EXPECT_EQ(got.intercept, want.intercept);
  EXPECT_EQ(got.weights, want.weights);
  EXPECT_EQ(got.means, want.means);
}

void ExpectSameModel(const Model& want, const Model& got) {
  EXPECT_EQ(got.version, want.version);
  EXPECT_EQ(got.lifecycle.maturity_min_transactions, want.lifecycle.maturity_min_transactions);
  EXPECT_EQ(got.lifecycle.decline_rhythm_factor, want.lifecycle.decline_rhythm_factor);
  EXPECT_EQ(got.lifecycle.decline_min_days, want.lifecycle.decline_min_days);
  EXPECT_EQ(got.lifecycle.single_purchase_decline_days,
            want.lifecycle.single_purchase_decline_days);
  EXPECT_EQ(got.lifecycle.lost_p_alive, want.lifecycle.lost_p_alive);
  EXPECT_EQ(got.value.contact_cost, want.value.contact_cost);
  EXPECT_EQ(got.value.return_cost, want.value.return_cost);
  EXPECT_EQ(got.value.complaint_cost, want.value.complaint_cost);
  EXPECT_EQ(got.purchase.time_unit, want.purchase.time_unit);
  EXPECT_EQ(got.purchase.merge_same_day, want.purchase.merge_same_day);
  EXPECT_EQ(got.purchase.bgnbd.r, want.purchase.bgnbd.r);
  EXPECT_EQ(got.purchase.bgnbd.alpha, want.purchase.bgnbd.alpha);
  EXPECT_EQ(got.purchase.bgnbd.a, want.purchase.bgnbd.a);
  EXPECT_EQ(got.purchase.bgnbd.b, want.purchase.bgnbd.b);
  EXPECT_EQ(got.purchase.kind, want.purchase.kind);
  EXPECT_EQ(got.purchase.pareto_nbd.r, want.purchase.pareto_nbd.r);
  EXPECT_EQ(got.purchase.pareto_nbd.alpha, want.purchase.pareto_nbd.alpha);
  EXPECT_EQ(got.purchase.pareto_nbd.s, want.purchase.pareto_nbd.s);
  EXPECT_EQ(got.purchase.pareto_nbd.beta, want.purchase.pareto_nbd.beta);
  EXPECT_EQ(got.purchase.gamma_gamma.p, want.purchase.gamma_gamma.p);
  EXPECT_EQ(got.purchase.gamma_gamma.q, want.purchase.gamma_gamma.q);
  EXPECT_EQ(got.purchase.gamma_gamma.gamma, want.purchase.gamma_gamma.gamma);
  EXPECT_EQ(got.value.margin, want.value.margin);
  EXPECT_EQ(got.value.annual_discount_rate, want.value.annual_discount_rate);
  EXPECT_EQ(got.value.clv_horizon_days, want.value.clv_horizon_days);
  EXPECT_EQ(got.value.profitability_threshold, want.value.profitability_threshold);
  EXPECT_EQ(got.value.potential_threshold, want.value.potential_threshold);
  EXPECT_EQ(got.churn.horizon_days, want.churn.horizon_days);
  ExpectSameLogistic(want.churn.logistic, got.churn.logistic);
  ASSERT_EQ(got.appetence.size(), want.appetence.size());
  for (std::size_t i = 0; i < want.appetence.size(); ++i) {
    SCOPED_TRACE(want.appetence[i].product);
    EXPECT_EQ(got.appetence[i].product, want.appetence[i].product);
    EXPECT_EQ(got.appetence[i].category, want.appetence[i].category);
    ExpectSameLogistic(want.appetence[i].logistic, got.appetence[i].logistic);
  }
  EXPECT_EQ(got.catalogue, want.catalogue);
  EXPECT_EQ(got.max_reasons, want.max_reasons);
  EXPECT_EQ(got.min_reason_weight, want.min_reason_weight);
}

TEST(ModelFileTest, RoundTripPreservesEveryField) {
  const Model want = FullModel();
  ASSERT_TRUE(ValidateModel(want).ok()) << ValidateModel(want);
  const std::string json = ModelToJson(want, "trained on the test fixture");
  EXPECT_THAT(json, HasSubstr("trained on the test fixture"));
  auto got = ParseModelJson(json);
  ASSERT_TRUE(got.ok()) << got.status() << "\n" << json;
  ExpectSameModel(want, *got);
}

TEST(ModelFileTest, TheBuiltInModelRoundTrips) {
  const Model want;
  auto got = ParseModelJson(ModelToJson(want));
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameModel(want, *got);
}

TEST(ModelFileTest, AMinimalFileKeepsTheBuiltInDefaults) {
  auto got = ParseModelJson(R"({"version": "v1"})");
  ASSERT_TRUE(got.ok()) << got.status();
  Model want;
  want.version = "v1";
  ExpectSameModel(want, *got);
  ExpectSameLogistic(Model::DefaultChurnModel().logistic, got->churn.logistic);
}

TEST(ModelFileTest, ASectionLeftOutKeepsItsDefaultsWhileAnotherIsRead) {
  auto got = ParseModelJson(R"({
    "version": "v2",
    "value": {"margin": 0.5, "annual_discount_rate": 0, "clv_horizon_days": 30,
              "profitability_threshold": 1, "potential_threshold": 2},
    "catalogue": {"TV": "video"},
    "max_reasons": 0
  })");
  ASSERT_TRUE(got.ok()) << got.status();
  Model want;
  want.version = "v2";
  want.value = {0.5, 0, 30, 1, 2};
  want.catalogue = {{"TV", "video"}};
  want.max_reasons = 0;
  ExpectSameModel(want, *got);
}

// Parses `json` and expects InvalidArgument with `needle` in the message.
void ExpectRejected(const std::string& json, const std::string& needle) {
  SCOPED_TRACE(json);
  auto got = ParseModelJson(json);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << got.status();
  EXPECT_THAT(std::string(got.status().message()), HasSubstr(needle));
}

// FullModel, changed by `change`, as a file.
template <typename Change>
std::string FullModelJsonWith(Change change) {
  Model m = FullModel();
  change(m);
  return ModelToJson(m);
}

TEST(ModelFileTest, RejectsWhatIsNotJson) {
  ExpectRejected("not json", "not a model file");
  ExpectRejected("", "not a model file");
  ExpectRejected(R"({"version": "v1")", "not a model file");
  ExpectRejected(R"({"version": 3})", "not a model file");
  // The message is one line, whatever the text around the error.
  const auto multi_line = ParseModelJson("# a README\n\n```sh\nls\n```\n");
  ASSERT_FALSE(multi_line.ok());
  EXPECT_EQ(std::string(multi_line.status().message()).find('\n'), std::string::npos)
      << multi_line.status().message();
}

TEST(ModelFileTest, RejectsAnUnknownKey) {
  ExpectRejected(R"({"version": "v1", "max_reason": 3})", "max_reason");
  ExpectRejected(R"({"version": "v1", "value": {"margn": 0.3}})", "margn");
}

TEST(ModelFileTest, RejectsAnEmptyVersion) {
  ExpectRejected(R"({})", "version");
  ExpectRejected(R"({"version": ""})", "version is empty");
}

TEST(ModelFileTest, RejectsBadPurchaseModelParameters) {
  ExpectRejected(FullModelJsonWith([](Model& m) { m.purchase.bgnbd.r = -0.5; }), "bgnbd");
  ExpectRejected(FullModelJsonWith([](Model& m) { m.purchase.bgnbd.alpha = 0; }), "bgnbd");
  ExpectRejected(FullModelJsonWith([](Model& m) { m.purchase.gamma_gamma.q = 1; }), "gamma_gamma");
  ExpectRejected(FullModelJsonWith([](Model& m) { m.purchase.gamma_gamma.q = 0.5; }),
                 "q greater than 1");
}

TEST(ModelFileTest, RejectsBadCostsAndLostThresholds) {
  ExpectRejected(FullModelJsonWith([](Model& m) { m.value.return_cost = -1; }), "costs to serve");
  ExpectRejected(FullModelJsonWith([](Model& m) { m.value.contact_cost[1] = -0.5; }),
                 "costs to serve");
  ExpectRejected(FullModelJsonWith([](Model& m) { m.lifecycle.lost_p_alive = 1; }), "lost_p_alive");
  ExpectRejected(FullModelJsonWith([](Model& m) { m.lifecycle.lost_p_alive = -0.1; }),
                 "lost_p_alive");
  ExpectRejected(R"({"version": "v", "value": {"margin": 0.3, "clv_horizon_days": 365,
                     "contact_cost": {"PIGEON": 1}}})",
                 "unknown channel \"PIGEON\"");
}

TEST(ModelFileTest, CostsAndTheLostThresholdLeftOutKeepTheBuiltInOnes) {
  auto got = ParseModelJson(R"({"version": "v",
    "value": {"margin": 0.3, "clv_horizon_days": 365, "contact_cost": {"PHONE": 6}},
    "lifecycle": {"maturity_min_transactions": 3, "decline_rhythm_factor": 2,
                  "decline_min_days": 30, "single_purchase_decline_days": 90}})");
  ASSERT_TRUE(got.ok()) << got.status();
  const Model builtin;
  EXPECT_EQ(got->lifecycle.lost_p_alive, builtin.lifecycle.lost_p_alive);
  EXPECT_EQ(got->value.return_cost, builtin.value.return_cost);
  EXPECT_EQ(got->value.complaint_cost, builtin.value.complaint_cost);
  EXPECT_EQ(got->value.contact_cost[static_cast<int>(Channel::kPhone)], 6);
  EXPECT_EQ(got->value.contact_cost[static_cast<int>(Channel::kEmail)],
            builtin.value.contact_cost[static_cast<int>(Channel::kEmail)]);
}

TEST(ModelFileTest, RejectsAMarginAboveOne) {
  ExpectRejected(FullModelJsonWith([](Model& m) { m.value.margin = 1.5; }), "margin");
  ExpectRejected(FullModelJsonWith([](Model& m) { m.value.margin = 0; }), "margin");
  auto one = ParseModelJson(FullModelJsonWith([](Model& m) { m.value.margin = 1; }));
  EXPECT_TRUE(one.ok()) << one.status();
}

TEST(ModelFileTest, RejectsABadTimeUnit) {
  ExpectRejected(R"({
    "version": "v1",
    "purchase": {"time_unit": "month", "merge_same_day": true,
                 "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
                 "gamma_gamma": {"p": 6.25, "q": 3.74, "gamma": 15.44}}
  })",
                 "time_unit");
  auto day = ParseModelJson(R"({
    "version": "v1",
    "purchase": {"time_unit": "day", "merge_same_day": true,
                 "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
                 "gamma_gamma": {"p": 6.25, "q": 3.74, "gamma": 15.44}}
  })");
  ASSERT_TRUE(day.ok()) << day.status();
  EXPECT_EQ(day->purchase.time_unit, TimeUnit::kDay);
}

TEST(ModelFileTest, ThePurchaseModelIsSelectedByName) {
  // Left out: BG/NBD, as every file written before Pareto/NBD; the Pareto/NBD
  // parameters keep the built-in ones.
  const std::string bg_only = R"({
    "version": "v1",
    "purchase": {"time_unit": "week", "merge_same_day": true,
                 "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
                 "gamma_gamma": {"p": 6.25, "q": 3.74, "gamma": 15.44}}
  })";
  auto bg = ParseModelJson(bg_only);
  ASSERT_TRUE(bg.ok()) << bg.status();
  EXPECT_EQ(bg->purchase.kind, PurchaseModelKind::kBgNbd);
  EXPECT_EQ(bg->purchase.pareto_nbd.r, PurchaseModel{}.pareto_nbd.r);
  // PARETO_NBD with its parameters; BG/NBD's may be left out.
  auto pareto = ParseModelJson(R"({
    "version": "v1",
    "purchase": {"time_unit": "week", "merge_same_day": true, "model": "PARETO_NBD",
                 "pareto_nbd": {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669},
                 "gamma_gamma": {"p": 6.25, "q": 3.74, "gamma": 15.44}}
  })");
  ASSERT_TRUE(pareto.ok()) << pareto.status();
  EXPECT_EQ(pareto->purchase.kind, PurchaseModelKind::kParetoNbd);
  EXPECT_EQ(pareto->purchase.pareto_nbd.beta, 11.669);
  EXPECT_EQ(pareto->purchase.bgnbd.r, PurchaseModel{}.bgnbd.r);
  // Written and read back, the selection stays.
  auto again = ParseModelJson(ModelToJson(*pareto, ""));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->purchase.kind, PurchaseModelKind::kParetoNbd);
  auto bg_again = ParseModelJson(ModelToJson(*bg, ""));
  ASSERT_TRUE(bg_again.ok()) << bg_again.status();
  EXPECT_EQ(bg_again->purchase.kind, PurchaseModelKind::kBgNbd);
}

TEST(ModelFileTest, RejectsAnUnknownPurchaseModelOrMissingParameters) {
  ExpectRejected(R"({
    "version": "v1",
    "purchase": {"time_unit": "week", "merge_same_day": true, "model": "PARETO",
                 "pareto_nbd": {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669},
                 "gamma_gamma": {"p": 6.25, "q": 3.74, "gamma": 15.44}}
  })",
                 "purchase.model must be \"BG_NBD\" or \"PARETO_NBD\", not \"PARETO\"");
  // The selected model's parameters are required.
  ExpectRejected(R"({
    "version": "v1",
    "purchase": {"time_unit": "week", "merge_same_day": true, "model": "PARETO_NBD",
                 "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
                 "gamma_gamma": {"p": 6.25, "q": 3.74, "gamma": 15.44}}
  })",
                 "pareto_nbd");
  ExpectRejected(FullModelJsonWith([](Model& m) { m.purchase.pareto_nbd.s = 0; }), "pareto_nbd");
  // An unknown value is echoed bounded: one short line, whatever it holds.
  const auto long_value = ParseModelJson(R"({"version": "v1", "purchase": {"time_unit": "week",
      "model": ")" + std::string(5000, 'X') +
                                         R"(\n"}})");
  ASSERT_FALSE(long_value.ok());
  EXPECT_LT(long_value.status().message().size(), 200u) << long_value.status().message();
  EXPECT_EQ(std::string(long_value.status().message()).find('\n'), std::string::npos);
}

TEST(ModelFileTest, RejectsAnUnknownFeatureName) {
  ExpectRejected(FullModelJsonWith([](Model& m) { m.churn.logistic.weights["p_alvie"] = 1; }),
                 "unknown feature \"p_alvie\"");
  ExpectRejected(FullModelJsonWith([](Model& m) { m.churn.logistic.means["tenure"] = 1; }),
                 "tenure");
  // A churn feature is not an appetence one.
  ExpectRejected(
      FullModelJsonWith([](Model& m) { m.appetence[0].logistic.weights["recent_complaints"] = 1; }),
      "recent_complaints");
}

TEST(ModelFileTest, RejectsAnAppetenceProductListedTwice) {
  ExpectRejected(FullModelJsonWith([](Model& m) { m.appetence.push_back(m.appetence[0]); }),
                 "\"TV\" listed twice");
}

class ModelFileOnDiskTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    // The process id keeps another checkout's run, sharing the directory, apart.
    const std::string path = ::testing::TempDir() + "/" + std::to_string(getpid()) + "_" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    EXPECT_TRUE(out.good()) << path;
    return path;
  }
};

TEST_F(ModelFileOnDiskTest, LoadsAWrittenModel) {
  const std::string path = Write("model_file_test_good.json", ModelToJson(FullModel(), "disk"));
  auto got = LoadModelFile(path);
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameModel(FullModel(), *got);
}

TEST_F(ModelFileOnDiskTest, ErrorsNameThePath) {
  const std::string missing = ::testing::TempDir() + "/model_file_test_no_such_file.json";
  auto not_found = LoadModelFile(missing);
  ASSERT_FALSE(not_found.ok());
  EXPECT_EQ(not_found.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(not_found.status().message()), HasSubstr(missing));

  const std::string bad = Write("model_file_test_bad.json", R"({"version": "v1", "margin": 2})");
  auto invalid = LoadModelFile(bad);
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(invalid.status().message()), HasSubstr(bad));
  EXPECT_THAT(std::string(invalid.status().message()), HasSubstr("margin"));

  const std::string empty_version = Write("model_file_test_empty_version.json", "{}");
  auto empty = LoadModelFile(empty_version);
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(std::string(empty.status().message()), HasSubstr(empty_version));
  EXPECT_THAT(std::string(empty.status().message()), HasSubstr("version is empty"));
}

}  // namespace
}  // namespace crm
