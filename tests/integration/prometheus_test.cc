// The shipped Prometheus and Grafana files against the real things: promtool
// checks the config and the rules, a real Prometheus server (Debian's) scrapes
// a real crm-scored on loopback and loads the rules, takes every query of the
// dashboard, and every metric they use is one the service exports.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

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

constexpr char kPrometheus[] = "/usr/bin/prometheus";
constexpr char kPromtool[] = "/usr/bin/promtool";
const std::string kShipped = CRM_SOURCE_DIR "/deploy/prometheus";

// A port free on loopback now (the kernel's pick, released for the server).
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

// A Prometheus HTTP API answer, parsed; empty when it could not be read.
google::protobuf::Struct Api(const std::string& url) {
  google::protobuf::Struct answer;
  const std::optional<std::string> body = HttpGet(url);
  if (!body || !google::protobuf::util::JsonStringToMessage(*body, &answer).ok()) return {};
  return answer;
}

// `text` percent-encoded for a URL's query string.
std::string UrlEncoded(const std::string& text) {
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof escaped, "%%%02X", c);
      out += escaped;
    }
  }
  return out;
}

// Every "expr" of the dashboard's panels.
std::vector<std::string> DashboardQueries(const std::string& json) {
  google::protobuf::Struct dashboard;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &dashboard).ok());
  std::vector<std::string> queries;
  for (const auto& panel : dashboard.fields().at("panels").list_value().values()) {
    for (const auto& target : panel.struct_value().fields().at("targets").list_value().values()) {
      queries.push_back(target.struct_value().fields().at("expr").string_value());
    }
  }
  return queries;
}

// `query` with Grafana's variables replaced, as Prometheus takes it.
std::string WithoutVariables(std::string query) {
  for (const auto& [variable, value] :
       {std::pair<std::string, std::string>{"$__rate_interval", "1m"}, {"$instance", ".*"}}) {
    for (std::size_t at; (at = query.find(variable)) != std::string::npos;) {
      query.replace(at, variable.size(), value);
    }
  }
  return query;
}

// The value of the first sample of an instant query's answer; "" when none.
std::string FirstValue(const google::protobuf::Struct& answer) {
  const auto& fields = answer.fields();
  if (!fields.contains("data")) return "";
  const auto& result = fields.at("data").struct_value().fields().at("result").list_value();
  if (result.values_size() == 0) return "";
  return result.values(0).struct_value().fields().at("value").list_value().values(1).string_value();
}

TEST(PrometheusTest, ARealPrometheusScrapesTheServiceAndLoadsTheShippedRules) {
  ASSERT_EQ(::access(kPrometheus, X_OK), 0)
      << kPrometheus << " is missing: install Debian's prometheus (scripts/setup.sh does)";
  TempDir dir;
  const testing::ToolRun rules_check =
      testing::Run(dir, kPromtool, {"check", "rules", kShipped + "/rules.yml"});
  ASSERT_EQ(rules_check.exit_code, 0) << rules_check.output;
  const testing::ToolRun config_check =
      testing::Run(dir, kPromtool, {"check", "config", kShipped + "/prometheus.yml"});
  ASSERT_EQ(config_check.exit_code, 0) << config_check.output;

  auto broker = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  const testing::SilentBuyers buyers = testing::VipAndSmall();
  testing::ProduceTouchpoints((*broker)->bootstrap(), buyers.history);
  testing::RunningService service = testing::StartService(
      (*broker)->bootstrap(), dir.path() / "data", dir.path() / "service.log", {}, "prom-test");
  ASSERT_FALSE(service.metrics.empty());
  const std::string target =
      service.metrics.substr(std::string("http://").size(), service.metrics.find("/metrics") - 7);
  const int port = FreePort();
  ASSERT_NE(port, 0);
  std::ofstream(dir.path() / "prometheus.yml")
      << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
      << "rule_files:\n  - " << kShipped << "/rules.yml\n"
      << "scrape_configs:\n  - job_name: crm-scored\n    static_configs:\n      - targets: [\""
      << target << "\"]\n";
  ChildProcess prometheus(kPrometheus,
                          {"--config.file=" + (dir.path() / "prometheus.yml").string(),
                           "--storage.tsdb.path=" + (dir.path() / "tsdb").string(),
                           "--web.listen-address=127.0.0.1:" + std::to_string(port)},
                          dir.path() / "prometheus.log");
  const std::string api = "http://127.0.0.1:" + std::to_string(port) + "/api/v1/";
  // Scraped: up is 1 and the service's own series are there; the rules are
  // loaded and have been evaluated (each rule's health leaves "unknown").
  const auto rule_health = [&] {
    std::map<std::string, std::string> health;
    const google::protobuf::Struct loaded = Api(api + "rules");
    if (!loaded.fields().contains("data")) return health;
    const auto& groups =
        loaded.fields().at("data").struct_value().fields().at("groups").list_value();
    for (const auto& group : groups.values()) {
      for (const auto& rule : group.struct_value().fields().at("rules").list_value().values()) {
        const auto& fields = rule.struct_value().fields();
        const std::string error =
            fields.contains("lastError") ? fields.at("lastError").string_value() : "";
        health[fields.at("name").string_value()] =
            fields.at("health").string_value() + (error.empty() ? "" : ": " + error);
      }
    }
    return health;
  };
  // Every rule of the file, loaded.
  std::size_t shipped_rules = 0;
  {
    const std::string text = testing::ReadFile(kShipped + "/rules.yml");
    for (std::size_t at = text.find("- alert: "); at != std::string::npos;
         at = text.find("- alert: ", at + 1)) {
      ++shipped_rules;
    }
  }
  ASSERT_GE(shipped_rules, 9u);
  const auto settled = [&] {
    if (FirstValue(Api(api + "query?query=up%7Bjob%3D%22crm-scored%22%7D")) != "1") return false;
    if (FirstValue(Api(api + "query?query=sum(crm_touchpoints_consumed_total)")) != "40" ||
        FirstValue(Api(api + "query?query=sum(crm_score_freshness_seconds_count)")) != "40") {
      return false;
    }
    const auto health = rule_health();
    return health.size() == shipped_rules &&
           std::none_of(health.begin(), health.end(),
                        [](const auto& rule) { return rule.second == "unknown"; });
  };
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (!settled() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(FirstValue(Api(api + "query?query=up%7Bjob%3D%22crm-scored%22%7D")), "1")
      << prometheus.Log();
  EXPECT_EQ(FirstValue(Api(api + "query?query=sum(crm_touchpoints_consumed_total)")), "40");
  // Each touchpoint's age at its commit, from its Kafka timestamp.
  EXPECT_EQ(FirstValue(Api(api + "query?query=sum(crm_score_freshness_seconds_count)")), "40");
  EXPECT_NE(FirstValue(Api(api + "query?query=process_start_time_seconds")), "");
  // A look at each purchase at least, each churn in [0, 1].
  EXPECT_GE(std::stod("0" + FirstValue(Api(api + "query?query=sum(crm_look_churn_count)"))), 40);
  EXPECT_EQ(FirstValue(Api(api + "query?query=sum(crm_look_churn_bucket%7Ble%3D%221%22%7D)%20-%20" +
                           "sum(crm_look_churn_count)")),
            "0");
  const auto health = rule_health();
  EXPECT_EQ(health.size(), shipped_rules) << prometheus.Log();
  for (const auto& [rule, state] : health) EXPECT_EQ(state, "ok") << rule;

  // Every query of the dashboard is one Prometheus takes.
  const std::vector<std::string> queries =
      DashboardQueries(testing::ReadFile(CRM_SOURCE_DIR "/deploy/grafana/crm-scored.json"));
  EXPECT_GE(queries.size(), 20u);
  for (const std::string& query : queries) {
    const google::protobuf::Struct answer =
        Api(api + "query?query=" + UrlEncoded(WithoutVariables(query)));
    ASSERT_TRUE(answer.fields().contains("status")) << query;
    EXPECT_EQ(answer.fields().at("status").string_value(), "success") << query;
  }

  // Every metric the rules and the dashboard use is one the service exports
  // (histograms by their family name).
  const std::string page = HttpGet(service.metrics).value_or("");
  std::string text = testing::ReadFile(kShipped + "/rules.yml");
  for (const std::string& query : queries) text += "\n" + query;
  std::set<std::string> used;
  for (const std::string prefix : {"crm_", "process_start_time_seconds"}) {
    for (std::size_t at = text.find(prefix); at != std::string::npos;
         at = text.find(prefix, at + 1)) {
      if (at > 0 &&
          (std::isalnum(static_cast<unsigned char>(text[at - 1])) != 0 || text[at - 1] == '_')) {
        continue;  // inside another name
      }
      std::size_t end = at;
      while (end < text.size() &&
             (std::islower(static_cast<unsigned char>(text[end])) != 0 || text[end] == '_')) {
        ++end;
      }
      std::string name = text.substr(at, end - at);
      for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
        if (name.ends_with(suffix)) name.resize(name.size() - suffix.size());
      }
      used.insert(name);
    }
  }
  EXPECT_GE(used.size(), 20u);
  for (const std::string& name : used) {
    EXPECT_NE(page.find("# TYPE " + name + " "), std::string::npos)
        << name << " is used by the rules or the dashboard but not exported";
  }
  EXPECT_EQ(prometheus.Stop(SIGTERM), 0) << prometheus.Log();
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();
}

// A scrape refreshes its figures from the service's parts (the storage, the
// schedules of looks, the cluster): scraped without pause up to the moment
// it stops, the service still stops cleanly, its parts never read once gone.
TEST(PrometheusTest, ScrapesUntilTheLastMomentLeaveACleanStop) {
  auto broker = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  const testing::SilentBuyers buyers = testing::VipAndSmall();
  testing::ProduceTouchpoints((*broker)->bootstrap(), buyers.history);
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    TempDir dir;
    testing::RunningService service = testing::StartService(
        (*broker)->bootstrap(), dir.path() / "data", dir.path() / "service.log", {},
        "scrape-stop-" + std::to_string(round));
    ASSERT_FALSE(service.metrics.empty());
    std::atomic<bool> stopped = false;
    std::atomic<int> answered = 0;
    std::vector<std::thread> scrapers;
    for (int i = 0; i < 4; ++i) {
      scrapers.emplace_back([&] {
        while (!stopped) {
          if (HttpGet(service.metrics)) ++answered;
        }
      });
    }
    while (answered < 20) std::this_thread::yield();
    EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();
    stopped = true;
    for (std::thread& scraper : scrapers) scraper.join();
  }
}

}  // namespace
}  // namespace crm
