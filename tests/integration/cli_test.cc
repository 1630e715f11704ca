// crm-score, the command line for people, against a real crm-scored: each
// subcommand's table and JSON, its errors and exit codes.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "crm/v1/scoring.grpc.pb.h"
#include "services/kafka/embedded_broker.h"
#include "tests/integration/service_process.h"
#include "tests/integration/test_cluster.h"
#include "tests/integration/touchpoint_producer.h"
#include "tools/scrape.h"

namespace crm {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::TempDir;

constexpr char kToken[] = "0123456789abcdef-cli-token";

// Runs crm-score with `args` to its end.
testing::ToolRun Score(const TempDir& dir, const std::vector<std::string>& args) {
  return testing::Run(dir, CRM_SCORE_BIN, args);
}

// The lines of `text` that are JSON objects, each parsed as a `Message`.
template <typename Message>
std::vector<Message> JsonLines(const std::string& text) {
  std::vector<Message> messages;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.front() != '{') continue;
    Message message;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &message).ok()) << line;
    messages.push_back(message);
  }
  return messages;
}

TEST(CliTest, GetAtRiskWatchAndEraseOnTheRealService) {
  TempDir dir;
  // One partition: on the event clock, a partition's own time moves its looks.
  auto broker = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string brokers = (*broker)->bootstrap();
  const testing::SilentBuyers buyers = testing::VipAndSmall();
  testing::ProduceTouchpoints(brokers, buyers.history);
  std::ofstream(dir.path() / "tokens") << "ops:" << kToken << "\n";
  std::ofstream(dir.path() / "token") << kToken << "\n";
  testing::RunningService service = testing::StartService(
      brokers, dir.path() / "data", dir.path() / "service.log",
      {"--admin-token-file", (dir.path() / "tokens").string(), "--log-format", "json"}, "cli-test");
  ASSERT_FALSE(service.grpc.empty());
  auto stub = v1::ScoringService::NewStub(
      grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials()));
  ASSERT_TRUE(testing::WaitApplied(*stub, "vip", 20)) << service.process->Log();
  ASSERT_TRUE(testing::WaitApplied(*stub, "small", 20)) << service.process->Log();
  const std::vector<std::string> server = {"--server", service.grpc};
  const auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), server.begin(), server.end());
    return args;
  };

  // get: a table for people, JSON for scripts.
  const testing::ToolRun table = Score(dir, with({"get", "vip"}));
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_NE(table.output.find("customer            vip"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("events applied      20"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("why this churn"), std::string::npos) << table.output;
  const testing::ToolRun json = Score(dir, with({"get", "vip", "--json"}));
  ASSERT_EQ(json.exit_code, 0) << json.output;
  v1::CustomerScores scores;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.output, &scores).ok())
      << json.output;
  EXPECT_EQ(scores.customer_id(), "vip");
  EXPECT_EQ(scores.events_applied(), 20u);
  EXPECT_GE(scores.churn(), 0);
  EXPECT_LE(scores.churn(), 1);
  EXPECT_NE(json.output.find("\"events_applied\""), std::string::npos);  // the .proto's names
  // Errors: one line naming gRPC's code, exit 1; bad usage, exit 2.
  const testing::ToolRun unknown = Score(dir, with({"get", "nobody"}));
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.output.find("crm-score: get nobody: NOT_FOUND"), std::string::npos)
      << unknown.output;
  EXPECT_EQ(Score(dir, with({"get"})).exit_code, 2);
  EXPECT_EQ(Score(dir, with({"get", "vip", "--as-of", "yesterday"})).exit_code, 2);
  EXPECT_EQ(Score(dir, with({"at-risk", "--top", "0"})).exit_code, 2);
  EXPECT_EQ(Score(dir, {"--server", "127.0.0.1:1", "--timeout", "2", "get", "vip"}).exit_code, 1);
  EXPECT_EQ(Score(dir, {"--help"}).exit_code, 0);

  // health: the health service's answer, 0 only when SERVING (for probes).
  const testing::ToolRun healthy = Score(dir, with({"health"}));
  EXPECT_EQ(healthy.exit_code, 0) << healthy.output;
  EXPECT_EQ(healthy.output, "SERVING\n");
  EXPECT_EQ(Score(dir, with({"health", "--service", "crm.v1.Ingest"})).output, "SERVING\n");
  const testing::ToolRun unnamed = Score(dir, with({"health", "--service", "no.such.Part"}));
  EXPECT_EQ(unnamed.exit_code, 1);
  EXPECT_NE(unnamed.output.find("crm-score: health: NOT_FOUND"), std::string::npos)
      << unnamed.output;
  const testing::ToolRun away = Score(dir, {"--server", "127.0.0.1:1", "--timeout", "2", "health"});
  EXPECT_EQ(away.exit_code, 1);
  EXPECT_NE(away.output.find("crm-score: health: "), std::string::npos) << away.output;

  // watch: subscribed before the alerts are raised, two alerts as JSON lines.
  ChildProcess watch(CRM_SCORE_BIN, with({"watch", "--count", "2", "--json"}),
                     dir.path() / "watch.log");
  // Subscribed once the service counts a watcher.
  const auto watchers = [&] {
    return SumSamples(HttpGet(service.metrics).value_or(""), "crm_watchers");
  };
  for (const auto until = std::chrono::steady_clock::now() + 30s;
       watchers() < 1 && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(watchers(), 1) << watch.Log();
  testing::ProduceTouchpoints(brokers, buyers.ticker);
  ASSERT_EQ(watch.Wait(60s), 0) << watch.Log() << service.process->Log();
  const std::vector<v1::ChurnAlert> alerts = JsonLines<v1::ChurnAlert>(watch.Log());
  ASSERT_EQ(alerts.size(), 2u) << watch.Log();
  std::set<std::string> alerted;
  for (const v1::ChurnAlert& alert : alerts) alerted.insert(alert.customer_id());
  EXPECT_EQ(alerted, (std::set<std::string>{"small", "vip"}));

  // at-risk: both, highest churn first; the table ranks them.
  const testing::ToolRun risky =
      Score(dir, with({"at-risk", "--top", "5", "--include-lost", "--json"}));
  ASSERT_EQ(risky.exit_code, 0) << risky.output;
  v1::ListAtRiskCustomersResponse ranked;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(risky.output, &ranked).ok())
      << risky.output;
  ASSERT_EQ(ranked.customers_size(), 2) << risky.output;
  EXPECT_GE(ranked.customers(0).churn(), ranked.customers(1).churn());
  const testing::ToolRun ranking = Score(dir, with({"at-risk", "--include-lost"}));
  ASSERT_EQ(ranking.exit_code, 0) << ranking.output;
  EXPECT_EQ(ranking.output.rfind("#  customer", 0), 0u) << ranking.output;
  EXPECT_NE(ranking.output.find("1  " + ranked.customers(0).customer_id()), std::string::npos)
      << ranking.output;
  EXPECT_NE(ranking.output.find("2  " + ranked.customers(1).customer_id()), std::string::npos)
      << ranking.output;

  // erase: an admin call; refused without the token, done with it, then gone.
  const testing::ToolRun anonymous = Score(dir, with({"erase", "vip"}));
  EXPECT_EQ(anonymous.exit_code, 1);
  EXPECT_NE(anonymous.output.find("UNAUTHENTICATED"), std::string::npos) << anonymous.output;
  std::vector<std::string> admin = {"--token-file", (dir.path() / "token").string()};
  admin.insert(admin.begin(), server.begin(), server.end());
  admin.insert(admin.end(), {"erase", "vip"});
  const testing::ToolRun erased = Score(dir, admin);
  ASSERT_EQ(erased.exit_code, 0) << erased.output << service.process->Log();
  EXPECT_NE(erased.output.find("erased vip"), std::string::npos) << erased.output;
  EXPECT_EQ(Score(dir, with({"get", "vip"})).exit_code, 1);
  const testing::ToolRun again = Score(dir, admin);
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.output.find("nothing to erase"), std::string::npos) << again.output;
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();

  // --log-format json: every line of the service's log is one object.
  std::istringstream lines(service.process->Log());
  int objects = 0;
  for (std::string line; std::getline(lines, line);) {
    google::protobuf::Struct object;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &object).ok()) << line;
    EXPECT_TRUE(object.fields().contains("msg")) << line;
    ++objects;
  }
  EXPECT_GT(objects, 5);
}

}  // namespace
}  // namespace crm
