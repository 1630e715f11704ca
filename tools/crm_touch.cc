// crm-touch: produces touchpoints written as JSON lines (protobuf's JSON
// mapping of crm.v1.Touchpoint) to Kafka, as protobuf binary keyed by customer.
#include <google/protobuf/util/json_util.h>
#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>

#include "crm/v1/touchpoint.pb.h"
#include "services/common/defaults.h"
#include "tools/command_line.h"

namespace {

class DeliveryCounter final : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    (message.err() == RdKafka::ERR_NO_ERROR ? delivered : failed).fetch_add(1);
  }
  std::atomic<std::uint64_t> delivered{0}, failed{0};
};

}  // namespace

// What may escape is what ends the process anyway (allocation failure).
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  std::string brokers, topic = std::string(crm::kDefaultTouchpointTopic), file, format = "proto";
  std::vector<std::string> kafka;
  bool strict = false;
  CLI::App app(
      "crm-touch: reads touchpoints as JSON lines (the protobuf JSON mapping of "
      "crm.v1.Touchpoint) from stdin or --file and produces each to Kafka with key = "
      "customer_id, as protobuf binary (or as the JSON line itself with --format json). Bad "
      "lines are reported with their line number and skipped (--strict: exit 1 instead).",
      "crm-touch");
  app.add_option("--brokers", brokers, "Kafka bootstrap servers")
      ->required()
      ->envname("CRM_BROKERS");
  app.add_option("--topic", topic, "Touchpoint topic")->capture_default_str();
  app.add_option("--file", file, "Input file (default: stdin)")->check(CLI::ExistingFile);
  app.add_option("--format", format, "Value format")
      ->check(CLI::IsMember({"proto", "json"}))
      ->capture_default_str();
  app.add_option("--kafka", kafka, "librdkafka property KEY=VALUE (repeatable)");
  app.add_flag("--strict", strict, "Stop at the first bad line with exit code 1");
  if (auto exit_code = crm::ParseCommandLine(app, argc, argv)) return *exit_code;

  DeliveryCounter deliveries;
  auto producer = crm::MakeProducer(brokers, kafka, &deliveries);
  if (!producer.ok()) {
    std::cerr << "crm-touch: " << producer.status().message() << "\n";
    return 2;
  }

  std::ifstream input_file;
  if (!file.empty()) input_file.open(file);
  std::istream& input = file.empty() ? std::cin : input_file;
  std::uint64_t lines = 0, produced = 0, bad = 0;
  const auto started = std::chrono::steady_clock::now();
  auto last_progress = started;
  auto progress = [&](const char* prefix) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::cerr << prefix << "crm-touch: " << lines << " lines, " << produced << " produced, " << bad
              << " bad, "
              << static_cast<std::uint64_t>(static_cast<double>(produced) / std::max(seconds, 1e-3))
              << "/s";
  };
  crm::v1::Touchpoint message;
  std::string value;
  for (std::string line; std::getline(input, line);) {
    ++lines;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    message.Clear();
    const auto status = google::protobuf::util::JsonStringToMessage(line, &message);
    if (!status.ok() || message.customer_id().empty()) {
      ++bad;
      std::cerr << "\ncrm-touch: line " << lines << ": "
                << (status.ok() ? std::string("no customer_id") : status.ToString()) << "\n";
      if (strict) return 1;
      continue;
    }
    RdKafka::Headers* headers = nullptr;
    if (format == "json") {
      value = line;
      headers = RdKafka::Headers::create();
      headers->add("content-type", "application/json");
    } else {
      message.SerializeToString(&value);
    }
    const std::string& key = message.customer_id();
    for (;;) {
      const RdKafka::ErrorCode err = (*producer)->produce(
          topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY, value.data(),
          value.size(), key.data(), key.size(), 0, headers, nullptr);
      if (err == RdKafka::ERR_NO_ERROR) break;
      if (err != RdKafka::ERR__QUEUE_FULL) {
        std::cerr << "\ncrm-touch: produce: " << RdKafka::err2str(err) << "\n";
        delete headers;
        return 1;
      }
      (*producer)->poll(50);
    }
    ++produced;
    (*producer)->poll(0);
    if (std::chrono::steady_clock::now() - last_progress > std::chrono::seconds(1)) {
      progress("\r");
      last_progress = std::chrono::steady_clock::now();
    }
  }
  while ((*producer)->outq_len() > 0 && (*producer)->flush(1000) == RdKafka::ERR__TIMED_OUT) {
    progress("\r");
  }
  progress("\r");
  std::cerr << ", " << deliveries.delivered.load() << " delivered, " << deliveries.failed.load()
            << " failed\n";
  return deliveries.failed.load() == 0 ? 0 : 1;
}
