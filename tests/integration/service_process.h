#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "crm/v1/scoring.grpc.pb.h"
#include "tools/child_process.h"

namespace crm::testing {

using crm::ChildProcess;
using crm::TempDir;

// crm-scored on `brokers`, the event clock and `data`, with `extra` flags;
// its gRPC, metrics and HTTP ports once it serves (a gtest failure otherwise).
struct RunningService {
  std::unique_ptr<ChildProcess> process;
  std::string grpc;     // "127.0.0.1:PORT"
  std::string metrics;  // "http://127.0.0.1:PORT/metrics"
  std::string http;     // "127.0.0.1:PORT" of the HTTP API and the desk
};
// `env` ("NAME=VALUE", e.g. fail points) is set for it alone.
RunningService StartService(const std::string& brokers, const std::filesystem::path& data,
                            const std::filesystem::path& log, std::vector<std::string> extra = {},
                            const std::string& group = "hardening-test",
                            const std::vector<std::string>& env = {});

// A program run to its end by Run: its exit code (-1: still running after a
// minute) and everything it wrote, stdout and stderr.
struct ToolRun {
  int exit_code = -1;
  std::string output;
};
// Runs `binary` with `args`, its output logged to a new file in `dir`.
ToolRun Run(const TempDir& dir, const std::string& binary, const std::vector<std::string>& args);

// The whole content of the file at `path` ("" when it cannot be read).
std::string ReadFile(const std::filesystem::path& path);

// The status GetCustomerScores answers for `customer` (with `token` as a
// bearer credential, if any), within 10 s.
grpc::StatusCode ScoresStatus(v1::ScoringService::Stub& stub, const std::string& customer,
                              const std::string& token = "");

// Waits until `customer` has `events` touchpoints applied; false at the deadline.
bool WaitApplied(v1::ScoringService::Stub& stub, const std::string& customer, std::uint64_t events,
                 const std::function<void(grpc::ClientContext&)>& authorise = {});

// Waits until the sum of `series` on the metrics page at `url` reaches `at_least`;
// false at the deadline (60 s).
bool WaitForMetric(const std::string& url, const std::string& series, double at_least);

}  // namespace crm::testing
