#include "tests/integration/service_process.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/integration/test_cluster.h"
#include "tools/scrape.h"

namespace crm::testing {

using namespace std::chrono_literals;

RunningService StartService(const std::string& brokers, const std::filesystem::path& data,
                            const std::filesystem::path& log, std::vector<std::string> extra,
                            const std::string& group, const std::vector<std::string>& env) {
  std::vector<std::string> args = {"--brokers",        brokers,
                                   "--data-dir",       data.string(),
                                   "--grpc-listen",    "127.0.0.1:0",
                                   "--metrics-listen", "127.0.0.1:0",
                                   "--http-listen",    "127.0.0.1:0",
                                   "--clock",          "event",
                                   "--group",          group,
                                   "--kafka",          "session.timeout.ms=6000",
                                   "--kafka",          "fetch.wait.max.ms=10"};
  args.insert(args.end(), extra.begin(), extra.end());
  RunningService service;
  args = WithTestKafka(args);
  if (env.empty()) {
    service.process = std::make_unique<ChildProcess>(CRM_SCORED_BIN, args, log);
  } else {  // through env(1)
    std::vector<std::string> with_env = env;
    with_env.push_back(CRM_SCORED_BIN);
    with_env.insert(with_env.end(), args.begin(), args.end());
    service.process = std::make_unique<ChildProcess>("/usr/bin/env", with_env, log);
  }
  const auto metrics = service.process->WaitForLog("metrics listening on http://127.0.0.1:", 30s);
  const auto grpc = service.process->WaitForLog("gRPC listening on 127.0.0.1:", 30s);
  const auto http = service.process->WaitForLog("HTTP listening on 127.0.0.1:", 30s);
  EXPECT_TRUE(metrics && grpc && http) << service.process->Log();
  // The port: the digits after the marker (a text or a JSON log line).
  const auto port = [](const std::string& rest) {
    return rest.substr(0, rest.find_first_not_of("0123456789"));
  };
  if (metrics) service.metrics = "http://127.0.0.1:" + port(*metrics) + "/metrics";
  if (grpc) service.grpc = "127.0.0.1:" + port(*grpc);
  if (http) service.http = "127.0.0.1:" + port(*http);
  return service;
}

ToolRun Run(const TempDir& dir, const std::string& binary, const std::vector<std::string>& args) {
  static std::atomic<int> runs{0};
  ChildProcess process(binary, args, dir.path() / ("run-" + std::to_string(++runs) + ".log"));
  ToolRun run;
  run.exit_code = process.Wait(60s);
  run.output = process.Log();
  return run;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

grpc::StatusCode ScoresStatus(v1::ScoringService::Stub& stub, const std::string& customer,
                              const std::string& token) {
  v1::GetCustomerScoresRequest request;
  request.set_customer_id(customer);
  v1::CustomerScores scores;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  return stub.GetCustomerScores(&context, request, &scores).error_code();
}

bool WaitApplied(v1::ScoringService::Stub& stub, const std::string& customer, std::uint64_t events,
                 const std::function<void(grpc::ClientContext&)>& authorise) {
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < until) {
    v1::GetCustomerStateRequest request;
    request.set_customer_id(customer);
    v1::CustomerState state;
    grpc::ClientContext context;
    if (authorise) authorise(context);
    if (stub.GetCustomerState(&context, request, &state).ok() && state.events_applied() >= events) {
      return true;
    }
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

bool WaitForMetric(const std::string& url, const std::string& series, double at_least) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    if (SumSamples(HttpGet(url).value_or(""), series) >= at_least) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace crm::testing
