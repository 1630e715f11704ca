#include "services/training/fitting.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace crm::training {
namespace {

// Per customer of the CDNOW 1/10th sample: dollars per purchase day (same-day purchases merged).
using PurchaseDays = std::map<int, double>;

int DayNumber(int yyyymmdd) {
  const std::chrono::year_month_day date{
      std::chrono::year{yyyymmdd / 10000},
      std::chrono::month{static_cast<unsigned>(yyyymmdd / 100 % 100)},
      std::chrono::day{static_cast<unsigned>(yyyymmdd % 100)}};
  return std::chrono::sys_days{date}.time_since_epoch().count();
}

const int kCalibrationEnd = DayNumber(19970930);

std::map<int, PurchaseDays> ReadCdnowSample() {
  std::map<int, PurchaseDays> customers;
  std::ifstream in(std::string(CRM_TEST_DATA_DIR) + "/CDNOW_sample.txt");
  EXPECT_TRUE(in.is_open());
  std::string line;
  while (std::getline(in, line)) {  // CRLF: the trailing '\r' is whitespace to >>.
    std::istringstream fields(line);
    int master_id = 0, sample_id = 0, date = 0, cds = 0;
    double dollars = 0;
    if (!(fields >> master_id >> sample_id >> date >> cds >> dollars)) continue;
    customers[sample_id][DayNumber(date)] += dollars;
  }
  return customers;
}

// The calibration-period (to 1997-09-30) summaries, in weeks.
struct CdnowCalibration {
  std::vector<BgNbdHistory> histories;
  std::vector<SpendHistory> repeat_spend;  // m_x over repeat transactions only
  std::vector<SpendHistory> all_spend;     // m_x over all transactions, the first included
};

CdnowCalibration Calibrate(const std::map<int, PurchaseDays>& customers) {
  CdnowCalibration out;
  for (const auto& [id, days] : customers) {
    const int first = days.begin()->first;
    int last = first, transactions = 0;
    double repeat_dollars = 0, all_dollars = 0;
    for (const auto& [day, dollars] : days) {
      if (day > kCalibrationEnd) break;
      last = day;
      all_dollars += dollars;
      if (transactions++ > 0) repeat_dollars += dollars;
    }
    const double x = transactions - 1;
    out.histories.push_back({x, (last - first) / 7.0, (kCalibrationEnd - first) / 7.0});
    out.repeat_spend.push_back({x, x > 0 ? repeat_dollars / x : 0});
    out.all_spend.push_back({x, all_dollars / transactions});
  }
  return out;
}

class CdnowFitTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    calibration_ = new CdnowCalibration(Calibrate(ReadCdnowSample()));
  }
  static void TearDownTestSuite() { delete calibration_; }
  static CdnowCalibration* calibration_;
};
CdnowCalibration* CdnowFitTest::calibration_ = nullptr;

void ExpectWithinRelative(double actual, double expected, double relative) {
  EXPECT_NEAR(actual, expected, std::abs(expected) * relative) << "expected " << expected;
}

TEST_F(CdnowFitTest, SampleSummariesMatchThePublishedTotals) {
  ASSERT_EQ(calibration_->histories.size(), 2357u);
  double repeats = 0;
  for (const BgNbdHistory& h : calibration_->histories) {
    repeats += h.x;
    EXPECT_LE(h.T, 272 / 7.0 + 1e-9);
  }
  EXPECT_EQ(repeats, 2457);
}

TEST_F(CdnowFitTest, FitBgNbdReproducesThePublishedEstimates) {
  const absl::StatusOr<BgNbdFit> fit = FitBgNbd(calibration_->histories);
  ASSERT_TRUE(fit.ok()) << fit.status();
  ExpectWithinRelative(fit->params.r, 0.243, 0.005);
  ExpectWithinRelative(fit->params.alpha, 4.414, 0.005);
  ExpectWithinRelative(fit->params.a, 0.793, 0.005);
  ExpectWithinRelative(fit->params.b, 2.426, 0.005);
  EXPECT_NEAR(fit->log_likelihood, -9582.4, 0.1);
  EXPECT_GT(fit->evaluations, 0);
}

TEST_F(CdnowFitTest, ParetoNbdLikelihoodAtThePublishedEstimates) {
  // Fader, Hardie & Lee (2005): LL = -9595.0 at r = 0.553, α = 10.578, s = 0.606, β = 11.669.
  const ParetoNbdParams published{.r = 0.553, .alpha = 10.578, .s = 0.606, .beta = 11.669};
  double ll = 0;
  for (const BgNbdHistory& h : calibration_->histories) ll += ParetoNbdLogLikelihood(published, h);
  EXPECT_NEAR(ll, -9595.0, 0.1);
}

TEST_F(CdnowFitTest, FitParetoNbdReproducesThePublishedEstimates) {
  const absl::StatusOr<ParetoNbdFit> fit = FitParetoNbd(calibration_->histories);
  ASSERT_TRUE(fit.ok()) << fit.status();
  ExpectWithinRelative(fit->params.r, 0.553, 0.01);
  ExpectWithinRelative(fit->params.alpha, 10.578, 0.01);
  ExpectWithinRelative(fit->params.s, 0.606, 0.01);
  ExpectWithinRelative(fit->params.beta, 11.669, 0.01);
  ExpectWithinRelative(fit->log_likelihood, -9595.0, 0.01);
  // The published figures are rounded: the optimum is no worse than they are.
  double at_published = 0;
  for (const BgNbdHistory& h : calibration_->histories) {
    at_published += ParetoNbdLogLikelihood({0.553, 10.578, 0.606, 11.669}, h);
  }
  EXPECT_GE(fit->log_likelihood, at_published - 1e-6);
  EXPECT_GT(fit->evaluations, 0);
}

TEST_F(CdnowFitTest, FitGammaGammaOnRepeatTransactionsReproducesThePublishedEstimates) {
  const absl::StatusOr<GammaGammaFit> fit = FitGammaGamma(calibration_->repeat_spend);
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_EQ(fit->customers, 946);
  EXPECT_EQ(fit->skipped, 2357 - 946);
  ExpectWithinRelative(fit->params.p, 6.25, 0.005);
  ExpectWithinRelative(fit->params.q, 3.74, 0.005);
  ExpectWithinRelative(fit->params.gamma, 15.44, 0.005);
}

TEST(FitTest, RejectsEmptyInput) {
  EXPECT_EQ(FitBgNbd({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitGammaGamma({}).status().code(), absl::StatusCode::kInvalidArgument);
  const std::vector<SpendHistory> no_repeat{{0, 0}, {0, 12.5}};
  EXPECT_EQ(FitGammaGamma(no_repeat).status().code(), absl::StatusCode::kInvalidArgument);
  const std::vector<BgNbdHistory> bad{{1, 5, 3}};  // t_x > T
  EXPECT_EQ(FitBgNbd(bad).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitParetoNbd({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitParetoNbd(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FitTest, MaximizePositiveFindsAKnownOptimum) {
  // -(log u - 2)^2 - (log v + 1)^2 peaks at u = e^2, v = e^-1.
  const FitResult fit = MaximizePositive(
      [](std::span<const double> v) {
        return -std::pow(std::log(v[0]) - 2, 2) - std::pow(std::log(v[1]) + 1, 2);
      },
      {{1, 1}});
  ASSERT_TRUE(fit.ok) << fit.message;
  EXPECT_NEAR(fit.params[0], std::exp(2.0), 1e-6);
  EXPECT_NEAR(fit.params[1], std::exp(-1.0), 1e-6);
  EXPECT_NEAR(fit.log_likelihood, 0, 1e-12);
}

// 5,000 rows from P(y = 1) = σ(-0.5 + 1.2 x1 - 0.8 x2), x1 ~ N(0, 1), x2 ~ N(2, 3).
struct Synthetic {
  std::vector<std::vector<double>> rows;
  std::vector<int> labels;
};

Synthetic DrawLogistic() {
  std::mt19937_64 rng(20240517);
  std::normal_distribution<double> x1(0, 1), x2(2, 3);
  std::uniform_real_distribution<double> u(0, 1);
  Synthetic data;
  for (int i = 0; i < 5000; ++i) {
    const double a = x1(rng), b = x2(rng);
    data.rows.push_back({a, b});
    data.labels.push_back(u(rng) < 1 / (1 + std::exp(-(-0.5 + 1.2 * a - 0.8 * b))) ? 1 : 0);
  }
  return data;
}

TEST(FitLogisticTest, RecoversTheGeneratingWeights) {
  const Synthetic data = DrawLogistic();
  const absl::StatusOr<LogisticFit> fit = FitLogistic(data.rows, data.labels, 0);
  ASSERT_TRUE(fit.ok()) << fit.status();
  ASSERT_EQ(fit->weights.size(), 2u);
  // About 4 sampling standard deviations (0.045, 0.054, 0.026 over 300 seeds at n = 5,000).
  EXPECT_NEAR(fit->intercept, -0.5, 0.18);
  EXPECT_NEAR(fit->weights[0], 1.2, 0.22);
  EXPECT_NEAR(fit->weights[1], -0.8, 0.1);
  EXPECT_LT(fit->log_loss, std::log(2.0));
  EXPECT_GT(fit->log_loss, 0);
  // Exactly the maximum-likelihood point: the score equations Σ (p_i - y_i) (1, x_i) = 0 hold.
  double score[3] = {0, 0, 0};
  for (size_t i = 0; i < data.rows.size(); ++i) {
    const std::vector<double>& x = data.rows[i];
    const double z = fit->intercept + fit->weights[0] * x[0] + fit->weights[1] * x[1];
    const double residual = 1 / (1 + std::exp(-z)) - data.labels[i];
    score[0] += residual;
    score[1] += residual * x[0];
    score[2] += residual * x[1];
  }
  for (double s : score) EXPECT_NEAR(s / data.rows.size(), 0, 1e-6);
}

TEST(FitLogisticTest, PenaltyShrinksTheWeights) {
  const Synthetic data = DrawLogistic();
  const absl::StatusOr<LogisticFit> free = FitLogistic(data.rows, data.labels, 0);
  const absl::StatusOr<LogisticFit> shrunk = FitLogistic(data.rows, data.labels, 0.5);
  ASSERT_TRUE(free.ok() && shrunk.ok());
  EXPECT_LT(std::abs(shrunk->weights[0]), std::abs(free->weights[0]));
  EXPECT_LT(std::abs(shrunk->weights[1]), std::abs(free->weights[1]));
  EXPECT_GT(shrunk->log_loss, free->log_loss);  // the unpenalised fit minimises the loss
}

TEST(FitLogisticTest, RowWeightsActAsRepetition) {
  // Weighting a row by 2 is the same as listing it twice.
  const std::vector<std::vector<double>> rows{{0.0}, {1.0}, {2.0}, {3.0}};
  const std::vector<int> labels{0, 1, 0, 1};
  const std::vector<double> weights{1, 2, 1, 1};
  const std::vector<std::vector<double>> repeated{{0.0}, {1.0}, {1.0}, {2.0}, {3.0}};
  const std::vector<int> repeated_labels{0, 1, 1, 0, 1};
  const absl::StatusOr<LogisticFit> weighted = FitLogistic(rows, labels, 0.1, weights);
  const absl::StatusOr<LogisticFit> listed = FitLogistic(repeated, repeated_labels, 0.1);
  ASSERT_TRUE(weighted.ok() && listed.ok());
  EXPECT_NEAR(weighted->intercept, listed->intercept, 1e-6);
  EXPECT_NEAR(weighted->weights[0], listed->weights[0], 1e-6);
}

TEST(FitLogisticTest, RejectsBadInput) {
  const std::vector<std::vector<double>> rows{{1, 2}, {3, 4}};
  const std::vector<int> one_label{1};
  EXPECT_EQ(FitLogistic(rows, one_label, 0).status().code(), absl::StatusCode::kInvalidArgument);
  const std::vector<int> labels{0, 1};
  EXPECT_EQ(FitLogistic({}, {}, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitLogistic(rows, labels, -1).status().code(), absl::StatusCode::kInvalidArgument);
  const std::vector<int> not_binary{0, 2};
  EXPECT_EQ(FitLogistic(rows, not_binary, 0).status().code(), absl::StatusCode::kInvalidArgument);
  const std::vector<std::vector<double>> ragged{{1, 2}, {3}};
  EXPECT_EQ(FitLogistic(ragged, labels, 0).status().code(), absl::StatusCode::kInvalidArgument);
  const std::vector<double> one_weight{1};
  EXPECT_EQ(FitLogistic(rows, labels, 0, one_weight).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AucTest, HandExamples) {
  const std::vector<int> labels{0, 0, 1, 1};
  EXPECT_DOUBLE_EQ(Auc(std::vector<double>{0.1, 0.2, 0.8, 0.9}, labels), 1.0);
  EXPECT_DOUBLE_EQ(Auc(std::vector<double>{0.9, 0.8, 0.2, 0.1}, labels), 0.0);
  EXPECT_DOUBLE_EQ(Auc(std::vector<double>{0.5, 0.5, 0.5, 0.5}, labels), 0.5);
  // Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ordered.
  EXPECT_DOUBLE_EQ(Auc(std::vector<double>{0.1, 0.4, 0.35, 0.8}, labels), 0.75);
  // One tied pair counts half: (0.5 + 1 + 2) / 4.
  EXPECT_DOUBLE_EQ(Auc(std::vector<double>{0.5, 0.2, 0.5, 0.9}, labels), 0.875);
}

TEST(AucTest, UndefinedWithoutBothClassesOrOnSizeMismatch) {
  EXPECT_TRUE(std::isnan(Auc(std::vector<double>{0.1, 0.2}, std::vector<int>{1, 1})));
  EXPECT_TRUE(std::isnan(Auc(std::vector<double>{0.1}, std::vector<int>{0, 1})));
}

TEST(CalibrationTableTest, EqualCountBins) {
  const std::vector<double> predicted{0.9, 0.1, 0.2, 0.8, 0.3, 0.7};
  const std::vector<int> labels{1, 0, 0, 1, 1, 0};
  const std::vector<CalibrationBin> table = CalibrationTable(predicted, labels, 2);
  ASSERT_EQ(table.size(), 2u);
  EXPECT_EQ(table[0].count, 3);
  EXPECT_NEAR(table[0].mean_predicted, 0.2, 1e-12);  // 0.1, 0.2, 0.3
  EXPECT_NEAR(table[0].observed_rate, 1.0 / 3, 1e-12);
  EXPECT_EQ(table[1].count, 3);
  EXPECT_NEAR(table[1].mean_predicted, 0.8, 1e-12);  // 0.7, 0.8, 0.9
  EXPECT_NEAR(table[1].observed_rate, 2.0 / 3, 1e-12);
  EXPECT_EQ(CalibrationTable(predicted, labels, 10).size(), 6u);  // no empty bins
  EXPECT_TRUE(CalibrationTable(predicted, std::vector<int>{1}, 2).empty());
}

}  // namespace
}  // namespace crm::training
