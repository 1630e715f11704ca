#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace RdKafka {
class Producer;
class DeliveryReportCb;
}  // namespace RdKafka

namespace crm {

// Parses a tool's command line. Returns the exit code to stop with — 0 after
// printing --help, 2 after one line on stderr naming a bad flag — or nullopt
// when the tool should run.
std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv);

// An idempotent Kafka producer on `brokers`, with `assignments` ("KEY=VALUE"
// librdkafka properties, from --kafka) applied last and `delivery` (may be
// null) told of every delivery. InvalidArgument names a bad property.
absl::StatusOr<std::unique_ptr<RdKafka::Producer>> MakeProducer(
    const std::string& brokers, const std::vector<std::string>& assignments,
    RdKafka::DeliveryReportCb* delivery);

}  // namespace crm
