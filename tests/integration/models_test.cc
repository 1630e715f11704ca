// The models on real data, end to end: the CDNOW 1/10th sample converted by
// scripts/cdnow-to-jsonl.sh, crm-train fitting it (the published estimates
// must come out), then the calibration purchases streamed through Kafka into
// crm-scored running that model file, and every customer's P(alive) and
// expected purchases read over gRPC as of 1997-09-30 and compared with the
// closed forms on the customer's (x, t_x, T), computed here from the raw file.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "core/bgnbd.h"
#include "core/pareto_nbd.h"
#include "crm/v1/scoring.grpc.pb.h"
#include "services/kafka/embedded_broker.h"
#include "services/model/model_file.h"
#include "tests/integration/service_process.h"
#include "tests/integration/test_cluster.h"
#include "tests/integration/touchpoint_producer.h"
#include "tools/scrape.h"

namespace crm {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::ProduceTouchpoints;
using testing::TempDir;

const std::string kSample = std::string(CRM_SOURCE_DIR) + "/data/cdnow/CDNOW_sample.txt";
constexpr int kCalibrationEnd = 19970930;
constexpr int kPartitions = 4;

// Days since 1970-01-01 of a YYYYMMDD date.
int DayOf(int yyyymmdd) {
  const std::chrono::year_month_day date{std::chrono::year(yyyymmdd / 10000),
                                         std::chrono::month(yyyymmdd / 100 % 100),
                                         std::chrono::day(yyyymmdd % 100)};
  return static_cast<int>(std::chrono::sys_days(date).time_since_epoch().count());
}

struct Row {
  int customer = 0;  // master id
  int date = 0;      // YYYYMMDD
  double dollars = 0;
  int line = 0;
};

std::vector<Row> ReadSample() {
  std::ifstream in(kSample);
  std::vector<Row> rows;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::istringstream fields(line);
    Row row;
    int sample_id = 0, cds = 0;
    if (fields >> row.customer >> sample_id >> row.date >> cds >> row.dollars) {
      row.line = number;
      rows.push_back(row);
    }
  }
  return rows;
}

bool Within(double got, double want, double relative) {
  return std::fabs(got - want) <= relative * std::fabs(want);
}

// Trains on the sample with `--purchase-model purchase_model`, serves the
// model file and checks every customer's scores against the closed forms of
// the model it selects.
void TrainAndServe(const std::string& purchase_model, PurchaseModelKind kind) {
  TempDir dir;
  const std::vector<Row> rows = ReadSample();
  ASSERT_EQ(rows.size(), 6919u) << kSample;

  // 1. The converter and crm-train, as docs/scores-and-models.md runs them.
  const auto jsonl = dir.path() / "sample.jsonl";
  {
    ChildProcess convert(
        "/bin/bash", {std::string(CRM_SOURCE_DIR) + "/scripts/cdnow-to-jsonl.sh", kSample}, jsonl);
    ASSERT_EQ(convert.Wait(60s), 0) << convert.Log();
  }
  const auto model_path = dir.path() / "model.json";
  {
    ChildProcess train(CRM_TRAIN_BIN,
                       {"--input", jsonl.string(), "--calibration-end", "1997-09-30", "--time-unit",
                        "week", "--model-version", "cdnow-test", "--output", model_path.string(),
                        "--purchase-model", purchase_model, "--report-json"},
                       dir.path() / "train.log");
    ASSERT_EQ(train.Wait(120s), 0) << train.Log();
    // Both fits reported; the keys of before kept.
    const std::string report = train.Log();
    for (const std::string& key : std::vector<std::string>{
             "{\"bgnbd\": {\"r\": ", "\"pareto_nbd\": {\"r\": ", "\"gamma_gamma\": {\"p\": ",
             "\"churn\": {\"auc\": ", "\"appetence\": [",
             "\"purchase_model\": \"" + std::string(PurchaseModelKindName(kind)) + "\""}) {
      EXPECT_NE(report.find(key), std::string::npos) << key << "\n" << report;
    }
    const std::size_t pareto_at = report.find("\"pareto_nbd\"");
    EXPECT_NE(report.find("\"churn_auc\": "), std::string::npos) << report;
    EXPECT_NE(report.find("\"churn_auc\": ", pareto_at), std::string::npos) << report;
  }
  absl::StatusOr<Model> model = LoadModelFile(model_path.string());
  ASSERT_TRUE(model.ok()) << model.status();
  const BgNbdParams& bg = model->purchase.bgnbd;
  EXPECT_TRUE(Within(bg.r, 0.243, 0.005)) << bg.r;
  EXPECT_TRUE(Within(bg.alpha, 4.414, 0.005)) << bg.alpha;
  EXPECT_TRUE(Within(bg.a, 0.793, 0.005)) << bg.a;
  EXPECT_TRUE(Within(bg.b, 2.426, 0.005)) << bg.b;
  const GammaGammaParams& gg = model->purchase.gamma_gamma;
  EXPECT_TRUE(Within(gg.p, 6.25, 0.005)) << gg.p;
  EXPECT_TRUE(Within(gg.q, 3.74, 0.005)) << gg.q;
  EXPECT_TRUE(Within(gg.gamma, 15.44, 0.005)) << gg.gamma;
  const ParetoNbdParams& pn = model->purchase.pareto_nbd;
  EXPECT_TRUE(Within(pn.r, 0.553, 0.01)) << pn.r;
  EXPECT_TRUE(Within(pn.alpha, 10.578, 0.01)) << pn.alpha;
  EXPECT_TRUE(Within(pn.s, 0.606, 0.01)) << pn.s;
  EXPECT_TRUE(Within(pn.beta, 11.669, 0.01)) << pn.beta;
  EXPECT_EQ(model->purchase.kind, kind);
  EXPECT_EQ(model->churn.horizon_days, 273);  // weeks 40-78

  // 2. The calibration purchases, through Kafka, into crm-scored on that model.
  auto broker = testing::TestKafka::Start(ContractTopics(kPartitions));
  ASSERT_TRUE(broker.ok()) << broker.status();
  std::map<int, std::set<int>> days;  // customer → distinct calibration purchase days
  std::set<int> customers;
  std::vector<v1::Touchpoint> calibration;
  for (const Row& row : rows) {
    customers.insert(row.customer);
    if (row.date > kCalibrationEnd) continue;
    days[row.customer].insert(DayOf(row.date));
    v1::Touchpoint& m = calibration.emplace_back();
    m.set_event_id("cdnow-" + std::to_string(row.line));
    m.set_customer_id("cdnow-" + std::to_string(row.customer));
    m.mutable_occurred_at()->set_seconds(std::int64_t{DayOf(row.date)} * 86400);
    m.set_channel(v1::WEB);
    m.set_type(v1::PURCHASE);
    m.set_amount(row.dollars);
  }
  ProduceTouchpoints((*broker)->bootstrap(), calibration);
  const std::uint64_t produced = calibration.size();
  ASSERT_EQ(customers.size(), 2357u);
  ASSERT_EQ(days.size(), 2357u);  // every sample customer first bought in Q1 1997

  std::unique_ptr<v1::ScoringService::Stub> stub;
  const auto start_service = [&](const std::string& log) {
    auto started = std::make_unique<ChildProcess>(
        CRM_SCORED_BIN,
        testing::WithTestKafka(std::vector<std::string>{
            "--brokers", (*broker)->bootstrap(), "--data-dir", (dir.path() / "data").string(),
            "--grpc-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--http-listen",
            "127.0.0.1:0", "--group", "models-test", "--model", model_path.string(), "--kafka",
            "session.timeout.ms=6000", "--kafka", "fetch.wait.max.ms=10"}),
        dir.path() / log);
    auto port = started->WaitForLog("gRPC listening on 127.0.0.1:", 30s);
    EXPECT_TRUE(port) << started->Log();
    if (port) {
      stub = v1::ScoringService::NewStub(
          grpc::CreateChannel("127.0.0.1:" + *port, grpc::InsecureChannelCredentials()));
    }
    return started;
  };
  std::unique_ptr<ChildProcess> service = start_service("service.log");
  ASSERT_NE(stub, nullptr);

  // Scores of every customer as of 1997-09-30, once every purchase is applied.
  const auto score_all = [&](std::map<std::string, v1::CustomerScores>& out) {
    out.clear();
    std::vector<std::string> ids;
    for (int c : customers) ids.push_back("cdnow-" + std::to_string(c));
    for (std::size_t begin = 0; begin < ids.size(); begin += 1000) {
      v1::BatchGetCustomerScoresRequest request;
      for (std::size_t i = begin; i < std::min(ids.size(), begin + 1000); ++i) {
        request.add_customer_ids(ids[i]);
      }
      request.mutable_as_of()->set_seconds(std::int64_t{DayOf(kCalibrationEnd)} * 86400);
      v1::BatchGetCustomerScoresResponse response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 10s);
      const grpc::Status status = stub->BatchGetCustomerScores(&context, request, &response);
      if (!status.ok()) return std::uint64_t{0};
      for (const v1::CustomerScores& s : response.scores()) out[s.customer_id()] = s;
    }
    std::uint64_t applied = 0;
    for (const auto& [id, s] : out) applied += s.events_applied();
    return applied;
  };
  std::map<std::string, v1::CustomerScores> scores;
  const auto until = std::chrono::steady_clock::now() + 120s;
  while (score_all(scores) < produced && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_EQ(score_all(scores), produced) << service->Log();
  ASSERT_EQ(scores.size(), 2357u);

  const double end_day = DayOf(kCalibrationEnd);
  const double horizon_weeks = 273.0 / 7;
  int checked = 0;
  for (const auto& [customer, purchase_days] : days) {
    const v1::CustomerScores& s = scores.at("cdnow-" + std::to_string(customer));
    const BgNbdHistory h{static_cast<double>(purchase_days.size() - 1),
                         (*purchase_days.rbegin() - *purchase_days.begin()) / 7.0,
                         (end_day - *purchase_days.begin()) / 7.0};
    const bool pareto = kind == PurchaseModelKind::kParetoNbd;
    const double p_alive = pareto ? ParetoNbdProbabilityAlive(pn, h) : BgNbdProbabilityAlive(bg, h);
    const double expected = pareto ? ParetoNbdExpectedTransactions(pn, h, horizon_weeks)
                                   : BgNbdExpectedTransactions(bg, h, horizon_weeks);
    ASSERT_NEAR(s.p_alive(), p_alive, 1e-9 * std::max(1.0, p_alive)) << s.customer_id();
    ASSERT_NEAR(s.expected_purchases(), expected, 1e-9 * std::max(1.0, expected))
        << s.customer_id();
    // CDNOW's cohort first bought in Q1 1997: one-time buyers have been silent
    // for 26 weeks or more, which Pareto/NBD (not BG/NBD) reads as likely gone.
    if (pareto && h.x == 0) {
      EXPECT_LT(s.p_alive(), 0.5) << s.customer_id();
    }
    EXPECT_EQ(s.rfm().frequency(), purchase_days.size()) << s.customer_id();
    EXPECT_EQ(s.model_version(), "cdnow-test");
    // Ranked against the population of every buyer streamed in.
    EXPECT_TRUE(s.rfm().r_score() >= 1 && s.rfm().r_score() <= 5) << s.customer_id();
    EXPECT_TRUE(s.segment() == "A" || s.segment() == "B" || s.segment() == "C") << s.segment();
    EXPECT_GE(s.churn(), 0);
    EXPECT_LE(s.churn(), 1);
    ++checked;
  }
  EXPECT_EQ(checked, 2357);
  EXPECT_NE(service->Log().find("model version cdnow-test"), std::string::npos);
  EXPECT_EQ(service->Stop(SIGTERM), 0) << service->Log();

  // A restart keeps the population the RFM/FRAT scores and segments rank against.
  service = start_service("restarted.log");
  std::map<std::string, v1::CustomerScores> after;
  // Answered UNAVAILABLE while its partitions are restored from the
  // changelog, as they are at each assignment: read until they are.
  const auto restarted_until = std::chrono::steady_clock::now() + 120s;
  while (score_all(after) < produced && std::chrono::steady_clock::now() < restarted_until) {
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_EQ(score_all(after), produced) << service->Log();
  for (const auto& [id, before] : scores) {
    const v1::CustomerScores& now = after.at(id);
    EXPECT_EQ(now.rfm().r_score(), before.rfm().r_score()) << id;
    EXPECT_EQ(now.rfm().f_score(), before.rfm().f_score()) << id;
    EXPECT_EQ(now.rfm().m_score(), before.rfm().m_score()) << id;
    EXPECT_EQ(now.rfm().t_score(), before.rfm().t_score()) << id;
    EXPECT_EQ(now.segment(), before.segment()) << id;
  }
  EXPECT_NE(service->Log().find("population: 2357 buyers"), std::string::npos) << service->Log();
  EXPECT_EQ(service->Stop(SIGTERM), 0) << service->Log();
}

TEST(CdnowModelsTest, TrainedModelServedOnStreamedCalibrationPurchases) {
  TrainAndServe("bg-nbd", PurchaseModelKind::kBgNbd);
}

// The same on the model file crm-train writes selecting Pareto/NBD: what the
// service streams is Pareto/NBD's closed forms, and one-time buyers long
// silent are no longer held alive for sure.
TEST(CdnowModelsTest, TrainedParetoNbdModelServedOnStreamedCalibrationPurchases) {
  TrainAndServe("pareto-nbd", PurchaseModelKind::kParetoNbd);
}

}  // namespace
}  // namespace crm

namespace crm {
namespace {

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  // Written aside then renamed, as a deployment would, so the service never
  // reads half a file.
  const std::filesystem::path temporary = path.string() + ".new";
  std::ofstream(temporary, std::ios::trunc) << text;
  std::filesystem::rename(temporary, path);
}

// The model file is reloaded on change and on SIGHUP; a bad file is refused
// with a log line and a metric, and the model in use stays. (The service runs
// on the event clock, which this checks on the way.)
TEST(ModelReloadTest, ChangedFileAndSighupReloadAndABadFileKeepsTheModelInUse) {
  TempDir dir;
  const auto model_path = dir.path() / "model.json";
  WriteFile(model_path, R"({"version": "reload-1"})");
  auto broker = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  ChildProcess service(CRM_SCORED_BIN,
                       testing::WithTestKafka({"--brokers",        (*broker)->bootstrap(),
                                               "--data-dir",       (dir.path() / "data").string(),
                                               "--grpc-listen",    "127.0.0.1:0",
                                               "--metrics-listen", "127.0.0.1:0",
                                               "--http-listen",    "127.0.0.1:0",
                                               "--group",          "reload-test",
                                               "--clock",          "event",
                                               "--model",          model_path.string(),
                                               "--kafka",          "session.timeout.ms=6000",
                                               "--kafka",          "fetch.wait.max.ms=10"}),
                       dir.path() / "service.log");
  const auto metrics_port = service.WaitForLog("metrics listening on http://127.0.0.1:", 30s);
  auto grpc_port = service.WaitForLog("gRPC listening on 127.0.0.1:", 30s);
  ASSERT_TRUE(metrics_port && grpc_port) << service.Log();
  const std::string metrics = "http://127.0.0.1:" + *metrics_port + "/metrics";
  const auto scrape = [&] { return HttpGet(metrics).value_or(""); };
  auto stub = v1::ScoringService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + *grpc_port, grpc::InsecureChannelCredentials()));

  {  // one customer to score
    v1::Touchpoint m;
    m.set_event_id("e1");
    m.set_customer_id("c1");
    m.mutable_occurred_at()->set_seconds(1'700'000'000);
    m.set_channel(v1::WEB);
    m.set_type(v1::PURCHASE);
    m.set_amount(10);
    ProduceTouchpoints((*broker)->bootstrap(), {m});
  }
  // The version scores carry, once the customer is known.
  const auto version_served = [&]() -> std::string {
    v1::GetCustomerScoresRequest request;
    request.set_customer_id("c1");
    v1::CustomerScores scores;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    if (!stub->GetCustomerScores(&context, request, &scores).ok()) return "";
    return scores.model_version();
  };
  const auto wait_for_version = [&](const std::string& version) {
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (version_served() != version && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(50ms);
    }
    return version_served();
  };
  ASSERT_EQ(wait_for_version("reload-1"), "reload-1") << service.Log();
  {  // --clock event: a query without as_of is as of the latest event applied
    v1::GetCustomerScoresRequest request;
    request.set_customer_id("c1");
    v1::CustomerScores scores;
    grpc::ClientContext context;
    ASSERT_TRUE(stub->GetCustomerScores(&context, request, &scores).ok());
    EXPECT_EQ(scores.as_of().seconds(), 1'700'000'000);
    EXPECT_EQ(scores.rfm().recency_days(), 0);
  }

  // A changed file is picked up without a signal.
  WriteFile(model_path, R"({"version": "reload-2", "value": {"margin": 0.5,
      "annual_discount_rate": 0.1, "clv_horizon_days": 365}})");
  EXPECT_EQ(wait_for_version("reload-2"), "reload-2") << service.Log();

  // A bad file: refused, logged, counted; reload-2 stays, even on SIGHUP.
  WriteFile(model_path, R"({"version": "reload-3", "purchase": {"time_unit": "fortnight"}})");
  ASSERT_TRUE(testing::WaitForMetric(metrics, "crm_model_loads_total{result=\"rejected\"}", 1))
      << service.Log();
  EXPECT_TRUE(service.WaitForLog("model rejected, keeping version reload-2", 10s)) << service.Log();
  ASSERT_EQ(kill(service.pid(), SIGHUP), 0);
  // The count is checked below.
  testing::WaitForMetric(metrics, "crm_model_loads_total{result=\"rejected\"}", 2);
  const std::string page = scrape();
  EXPECT_EQ(SumSamples(page, "crm_model_loads_total{result=\"rejected\"}"), 2) << page;
  EXPECT_EQ(SumSamples(page, "crm_model_info{version=\"reload-2\"}"), 1) << page;
  EXPECT_EQ(SumSamples(page, "crm_model_info"), 1) << page;  // the old version's series is gone
  EXPECT_NE(service.Log().find("fortnight"), std::string::npos) << service.Log();
  EXPECT_EQ(version_served(), "reload-2");

  // A good file and SIGHUP.
  WriteFile(model_path, R"({"version": "reload-4"})");
  ASSERT_EQ(kill(service.pid(), SIGHUP), 0);
  EXPECT_EQ(wait_for_version("reload-4"), "reload-4") << service.Log();
  EXPECT_EQ(service.Stop(SIGTERM), 0) << service.Log();
}

}  // namespace
}  // namespace crm
