// crm-bench: measures crm-scored against the limits of its own parts, in one
// run on one machine: the bare Kafka consumer and the bare RocksDB loop on the
// same data, then the service's ingest, freshness, lookups and footprint.

#include <grpcpp/grpcpp.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <thread>
#include <unordered_set>

#include "absl/synchronization/notification.h"
#include "bench/http_lookups.h"
#include "bench/kafka_bench.h"
#include "bench/schedule_rebuild.h"
#include "bench/workload.h"
#include "core/ingest_processor.h"
#include "crm/v1/scoring.grpc.pb.h"
#include "services/common/defaults.h"
#include "services/storage/rocksdb_state_store.h"
#include "services/storage/state_keys.h"
#include "tools/child_process.h"
#include "tools/command_line.h"
#include "tools/demo/population.h"
#include "tools/scrape.h"

namespace crm::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;
namespace fs = std::filesystem;
const std::string kTopic{kDefaultTouchpointTopic};
const std::string kGroup = "crm-bench-scored";
// Payload bytes per partition of the broker: under the mock broker's ~5 MB.
constexpr double kBytesPerPartition = 3.0 * (1 << 20);

// Every phase, in the order they run.
std::vector<std::string> AllPhases() {
  return {"raw", "storage", "ingest", "freshness", "lookups", "http", "footprint", "schedule"};
}

struct Options {
  std::size_t touchpoints = 1'000'000;
  int customers = 100'000;
  int partitions = 0;  // 0: as many as hold the workload
  std::vector<std::string> phases = AllPhases();
  std::vector<double> freshness_rates = {10'000, 50'000};
  double lookup_ingest_rate = 20'000;
  int lookup_callers = 16;
  double seconds = 20;          // per freshness rate and for lookups
  int probe_interval_us = 200;  // between a probe's GetCustomerScores calls
  std::vector<int> footprint_customers = {1'000'000};
  int footprint_touchpoints = 3;  // per customer
  std::vector<std::int64_t> schedule_customers = {1'000'000};
  int schedule_partitions = 6;
  std::size_t schedule_entries = IngestOptions{}.schedule_entries;
  std::uint64_t seed = 1;
  std::string scored = CRM_SCORED_BIN;
  std::string devbroker = CRM_DEVBROKER_BIN;
  std::string empty_server = CRM_EMPTY_SERVER_BIN;
  std::vector<std::string> scored_args;
  std::string work_dir;
  std::string json;
  bool keep = false;
};

// One figure of the report: a name, a value and its unit.
struct Figure {
  std::string name;
  double value;
  std::string unit;
};

class Report {
 public:
  void Add(const std::string& phase, const std::string& name, double value,
           const std::string& unit) {
    figures_[phase].push_back({name, value, unit});
    std::cout << std::left << std::setw(11) << phase << std::setw(44) << name << std::right
              << std::setw(14) << std::fixed << std::setprecision(Precision(value)) << value << " "
              << unit << std::endl;
  }
  std::string Json(const Options& options) const {
    std::ostringstream out;
    out << "{\n  \"touchpoints\": " << options.touchpoints
        << ",\n  \"customers\": " << options.customers << ",\n  \"phases\": {";
    bool first_phase = true;
    for (const auto& [phase, figures] : figures_) {
      out << (first_phase ? "\n" : ",\n") << "    \"" << phase << "\": {";
      first_phase = false;
      for (std::size_t i = 0; i < figures.size(); ++i) {
        out << (i == 0 ? "" : ", ") << "\"" << figures[i].name << "\": " << std::setprecision(6)
            << figures[i].value;
      }
      out << "}";
    }
    out << "\n  }\n}\n";
    return out.str();
  }

 private:
  static int Precision(double value) { return std::fabs(value) < 10 ? 3 : 0; }
  std::map<std::string, std::vector<Figure>> figures_;
};

[[noreturn]] void Fail(const std::string& what) {
  std::cerr << "crm-bench: " << what << "\n";
  std::exit(1);
}

void Check(const absl::Status& status, const std::string& what) {
  if (!status.ok()) Fail(what + ": " + std::string(status.message()));
}

template <typename T>
T Take(absl::StatusOr<T> value, const std::string& what) {
  Check(value.status(), what);
  return std::move(*value);
}

// crm-devbroker as a child process.
struct Broker {
  std::unique_ptr<ChildProcess> process;
  std::string bootstrap;
  int partitions = 0;
};

Broker StartBroker(const Options& options, const fs::path& dir, int partitions) {
  Broker broker;
  broker.partitions = partitions;
  broker.process = std::make_unique<ChildProcess>(
      options.devbroker, std::vector<std::string>{"--partitions", std::to_string(partitions)},
      dir / "broker.log");
  auto bootstrap = broker.process->WaitForLog("bootstrap=", std::chrono::seconds(20));
  if (!bootstrap) Fail("crm-devbroker did not start: " + broker.process->Log());
  broker.bootstrap = *bootstrap;
  return broker;
}

std::int64_t ProcessCpuMicros(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  std::int64_t utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) {
      stime = std::stoll(field);
      break;
    }
  }
  return (utime + stime) * 1'000'000 / sysconf(_SC_CLK_TCK);
}

// A line of /proc/PID/status in kB ("VmHWM", "VmRSS"), in bytes.
double ProcessMemory(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) * 1024;
  }
  return 0;
}

std::uintmax_t DirectoryBytes(const fs::path& dir, const std::string& extension = "") {
  std::uintmax_t bytes = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && (extension.empty() || entry.path().extension() == extension)) {
      bytes += entry.file_size();
    }
  }
  return bytes;
}

// crm-scored as a child process on the bench's broker.
class Service {
 public:
  Service(const Options& options, const Broker& broker, const fs::path& dir,
          const std::string& name) {
    std::vector<std::string> args = {"--brokers",        broker.bootstrap,
                                     "--group",          kGroup,
                                     "--data-dir",       (dir / (name + "-data")).string(),
                                     "--grpc-listen",    "127.0.0.1:0",
                                     "--metrics-listen", "127.0.0.1:0",
                                     "--http-listen",    "127.0.0.1:0",
                                     "--kafka",          "fetch.wait.max.ms=10",
                                     "--kafka",          "session.timeout.ms=6000"};
    args.insert(args.end(), options.scored_args.begin(), options.scored_args.end());
    data_dir_ = dir / (name + "-data");
    process_ = std::make_unique<ChildProcess>(options.scored, args, dir / (name + ".log"));
    auto metrics = process_->WaitForLog("metrics listening on ", std::chrono::seconds(60));
    auto grpc = process_->WaitForLog("gRPC listening on ", std::chrono::seconds(60));
    auto http = process_->WaitForLog("HTTP listening on ", std::chrono::seconds(60));
    if (!metrics || !grpc || !http) Fail("crm-scored did not start:\n" + process_->Log());
    http_address_ = *http;
    metrics_url_ = *metrics;
    channel_ = grpc::CreateChannel(*grpc, grpc::InsecureChannelCredentials());
    grpc_address_ = *grpc;
  }

  pid_t pid() const { return process_->pid(); }
  const std::string& grpc_address() const { return grpc_address_; }
  const std::string& http_address() const { return http_address_; }
  const fs::path& data_dir() const { return data_dir_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  double Metric(const std::string& name) const {
    auto page = HttpGet(metrics_url_);
    return page ? SumSamples(*page, name) : -1;
  }
  int Stop() { return process_->Stop(SIGTERM, std::chrono::seconds(60)); }
  std::string Log() const { return process_->Log(); }

 private:
  std::unique_ptr<ChildProcess> process_;
  std::string metrics_url_, grpc_address_, http_address_;
  fs::path data_dir_;
  std::shared_ptr<grpc::Channel> channel_;
};

// Waits until the service's group committed `target` offsets in all; the
// service commits to Kafka after each RocksDB commit, so this is "applied and
// stored". Returns the rate from the first commit seen to the last.
struct IngestResult {
  double rate = 0;
  double seconds = 0;
  double cpu_us_per_record = 0;
};
IngestResult WaitForIngest(GroupOffsets& offsets, const Service& service, std::int64_t from,
                           std::int64_t target, const std::string& what) {
  IngestResult result;
  std::int64_t first = -1, last = from;
  SteadyClock::time_point first_at{}, progress_at = SteadyClock::now(), reported = progress_at;
  std::int64_t cpu_first = 0;
  for (;;) {
    const std::int64_t committed = offsets.Committed();
    const auto now = SteadyClock::now();
    if (committed > last) {
      if (first < 0) {
        first = committed;
        first_at = now;
        cpu_first = ProcessCpuMicros(service.pid());
      }
      last = committed;
      progress_at = now;
    }
    if (last >= target) break;
    if (now - progress_at > std::chrono::seconds(60)) {
      Fail(what + ": no progress for 60 s at " + std::to_string(last) + "/" +
           std::to_string(target) + "\n" + service.Log());
    }
    if (now - reported > std::chrono::seconds(5)) {
      std::cerr << "  " << what << ": " << (last - from) << "/" << (target - from) << "\n";
      reported = now;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  result.seconds = Seconds(SteadyClock::now() - first_at);
  if (result.seconds > 0) result.rate = static_cast<double>(last - first) / result.seconds;
  if (last > first) {
    result.cpu_us_per_record = static_cast<double>(ProcessCpuMicros(service.pid()) - cpu_first) /
                               static_cast<double>(last - first);
  }
  return result;
}

// Waits until the looks that fell due while the service caught up are taken
// (the workload's history ends a minute ago, so most customers' next look is
// already past): they share the consumer thread with the touchpoints, so the
// freshness and lookup phases measure the steady state only after them.
// Returns how many looks were taken and how long that took.
std::pair<double, double> WaitForLooks(const Service& service) {
  const auto started = SteadyClock::now();
  const double first = service.Metric("crm_rescored_total");
  // Less than one round of looks (100) waiting.
  for (double backlog; (backlog = service.Metric("crm_scheduler_backlog")) >= 100;) {
    std::cerr << "  due looks: " << static_cast<std::int64_t>(backlog) << " waiting\n";
    if (SteadyClock::now() - started > std::chrono::minutes(10)) {
      Fail("the backlog of due looks did not drain in 10 minutes\n" + service.Log());
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return {service.Metric("crm_rescored_total") - first, Seconds(SteadyClock::now() - started)};
}

// A data dir opened bare, with the options crm-scored opens it with.
std::unique_ptr<rocksdb::DB> OpenBare(const fs::path& path) {
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status status = rocksdb::DB::Open(
      MakeRocksDbOptions(RocksDbOptions{.path = path.string()}), path.string(), &raw);
  if (!status.ok()) Fail("cannot open " + path.string() + ": " + status.ToString());
  return std::unique_ptr<rocksdb::DB>(raw);
}

bool Wants(const Options& options, const std::string& phase) {
  return std::find(options.phases.begin(), options.phases.end(), phase) != options.phases.end();
}

// The bare RocksDB loop: the states the workload leaves, one record per
// touchpoint, in batches of 1,000 with the WAL on, with the service's options.
// Returns the records written per second.
double StorageCeiling(const Workload& workload, const fs::path& dir, Report& report) {
  const std::unique_ptr<rocksdb::DB> db = OpenBare(dir / "ceiling");
  const auto started = SteadyClock::now();
  std::string key;
  for (std::size_t i = 0; i < workload.records.size(); i += 1000) {
    rocksdb::WriteBatch batch;
    for (std::size_t j = i; j < std::min(i + 1000, workload.records.size()); ++j) {
      key.assign("c").append(workload.records[j].key);
      batch.Put(key, workload.states[j]);
    }
    if (!db->Write(rocksdb::WriteOptions(), &batch).ok()) Fail("bare RocksDB write failed");
  }
  const double seconds = Seconds(SteadyClock::now() - started);
  report.Add("storage", "state_bytes_mean", workload.mean_state_bytes, "B");
  const double rate = static_cast<double>(workload.records.size()) / seconds;
  report.Add("storage", "records_per_s", rate, "/s");
  return rate;
}

// Probes, one at a time while `load` runs: a touchpoint of a customer never
// seen, produced; then GetCustomerScores until it answers (NOT_FOUND before).
// Each probe's send time (µs since the epoch) and latency (µs) go to `csv`, to
// line the tail up with what else happened then (the data dir's RocksDB LOG
// stamps its flushes and compactions in the same clock).
Summary Freshness(const Options& options, const Broker& broker, const Service& service,
                  double seconds, const std::string& run, const fs::path& csv) {
  auto producer = Take(MakeBenchProducer(broker.bootstrap, 0), "probe producer");
  auto stub = v1::ScoringService::NewStub(service.channel());
  std::ofstream probes(csv);
  probes << "sent_unix_us,latency_us\n";
  std::vector<double> samples;
  const auto until = SteadyClock::now() + std::chrono::duration<double>(seconds);
  for (int k = 0; SteadyClock::now() < until; ++k) {
    Touchpoint touchpoint;
    touchpoint.customer_id = CustomerId("probe-" + run + "-" + std::to_string(k));
    touchpoint.event_id = touchpoint.customer_id.value();
    touchpoint.occurred_at = std::chrono::floor<Micros>(std::chrono::system_clock::now());
    touchpoint.type = TouchpointType::kContact;
    touchpoint.channel = Channel::kWeb;
    const Record record{touchpoint.customer_id.value(), Encode(touchpoint)};
    const auto sent = SteadyClock::now();
    const std::int64_t sent_unix_us = ToMicros(touchpoint.occurred_at);
    Check(Produce(*producer, kTopic, record), "probe");
    producer->poll(0);
    v1::GetCustomerScoresRequest request;
    request.set_customer_id(record.key);
    for (;;) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      v1::CustomerScores scores;
      const grpc::Status status = stub->GetCustomerScores(&context, request, &scores);
      if (status.ok()) break;
      if (status.error_code() != grpc::StatusCode::NOT_FOUND) {
        Fail("GetCustomerScores: " + status.error_message());
      }
      if (SteadyClock::now() - sent > std::chrono::seconds(30)) Fail("a probe never showed up");
      producer->poll(0);
      std::this_thread::sleep_for(std::chrono::microseconds(options.probe_interval_us));
    }
    samples.push_back(std::chrono::duration<double, std::micro>(SteadyClock::now() - sent).count());
    probes << sent_unix_us << "," << static_cast<std::int64_t>(samples.back()) << "\n";
    std::this_thread::sleep_for(std::chrono::milliseconds(options.touchpoints < 100'000 ? 2 : 10));
  }
  producer->flush(10'000);
  return Summarise(std::move(samples));
}

// `callers` concurrent callers of GetCustomerScores on random known customers,
// each with one call in flight and the next sent as soon as it is answered.
// On gRPC's callback API: a caller is not a thread of its own, so the load
// client's CPU (it shares the machine) goes to the calls, not to switching
// between 16 threads.
struct LookupResult {
  Summary latency;
  double rate = 0;
  std::int64_t errors = 0;
};

class LookupCaller {
 public:
  LookupCaller(v1::ScoringService::Stub* stub, const std::vector<std::string>& customers,
               std::uint64_t seed, SteadyClock::time_point until)
      : stub_(stub),
        customers_(customers),
        rng_(seed),
        pick_(0, customers.size() - 1),
        until_(until) {}

  void Start() { Send(); }
  // Blocks until the caller's last call is answered.
  void Wait() { finished_.WaitForNotification(); }
  std::vector<double>& samples() { return samples_; }
  std::int64_t errors() const { return errors_; }

 private:
  void Send() {
    request_.set_customer_id(customers_[pick_(rng_)]);
    context_ = std::make_unique<grpc::ClientContext>();
    context_->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    sent_ = SteadyClock::now();
    stub_->async()->GetCustomerScores(context_.get(), &request_, &scores_,
                                      [this](const grpc::Status& status) { Answered(status); });
  }
  void Answered(const grpc::Status& status) {
    const auto now = SteadyClock::now();
    samples_.push_back(std::chrono::duration<double, std::micro>(now - sent_).count());
    if (!status.ok()) ++errors_;
    if (now < until_) return Send();
    finished_.Notify();
  }

  v1::ScoringService::Stub* stub_;
  const std::vector<std::string>& customers_;
  std::mt19937_64 rng_;
  std::uniform_int_distribution<std::size_t> pick_;
  SteadyClock::time_point until_;
  v1::GetCustomerScoresRequest request_;
  v1::CustomerScores scores_;
  std::unique_ptr<grpc::ClientContext> context_;
  SteadyClock::time_point sent_;
  std::vector<double> samples_;
  std::int64_t errors_ = 0;
  absl::Notification finished_;
};

LookupResult Lookups(const std::string& address, const std::vector<std::string>& customers,
                     int callers, double seconds) {
  // A few connections (gRPC shares one per target unless told otherwise).
  std::vector<std::unique_ptr<v1::ScoringService::Stub>> stubs;
  for (int i = 0; i < 4; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("crm.bench.channel", i);
    stubs.push_back(v1::ScoringService::NewStub(
        grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args)));
  }
  const auto started = SteadyClock::now();
  const auto until = started + std::chrono::duration_cast<SteadyClock::duration>(
                                   std::chrono::duration<double>(seconds));
  std::vector<std::unique_ptr<LookupCaller>> all;
  all.reserve(callers);
  for (int c = 0; c < callers; ++c) {
    all.push_back(
        std::make_unique<LookupCaller>(stubs[c % stubs.size()].get(), customers, 1000 + c, until));
  }
  for (auto& caller : all) caller->Start();
  LookupResult result;
  std::vector<double> samples;
  for (auto& caller : all) {
    caller->Wait();
    samples.insert(samples.end(), caller->samples().begin(), caller->samples().end());
    result.errors += caller->errors();
  }
  result.rate = static_cast<double>(samples.size()) / Seconds(SteadyClock::now() - started);
  result.latency = Summarise(std::move(samples));
  return result;
}

void ReportSummary(Report& report, const std::string& phase, const std::string& prefix,
                   const Summary& summary) {
  report.Add(phase, prefix + "samples", static_cast<double>(summary.count), "");
  report.Add(phase, prefix + "p50_ms", summary.p50_us / 1000, "ms");
  report.Add(phase, prefix + "p99_ms", summary.p99_us / 1000, "ms");
  report.Add(phase, prefix + "max_ms", summary.max_us / 1000, "ms");
}

// A fresh broker and service fed `customers` × k touchpoints, paced so that
// the broker never drops what the service has not read; then the service's
// peak memory and its data dir's size.
void Footprint(const Options& options, const fs::path& dir, int customers, Report& report) {
  const std::string phase = "footprint";
  const std::string tag = std::to_string(customers / 1000) + "k_";
  const fs::path run_dir = dir / ("footprint-" + std::to_string(customers));
  fs::create_directories(run_dir);
  constexpr int kPartitions = 24;
  Broker broker = StartBroker(options, run_dir, kPartitions);
  Service service(options, broker, run_dir, "scored");
  auto offsets =
      Take(GroupOffsets::Create(broker.bootstrap, kGroup, kTopic, kPartitions), "group offsets");
  auto producer = Take(MakeBenchProducer(broker.bootstrap, 20), "producer");

  demo::Population population({.customers = customers, .seed = options.seed + 7});
  const Timestamp now = std::chrono::floor<Micros>(std::chrono::system_clock::now());
  const Timestamp start = now - std::chrono::days(365);
  const std::int64_t total = static_cast<std::int64_t>(customers) * options.footprint_touchpoints;
  const auto lead = static_cast<std::int64_t>(kPartitions * kBytesPerPartition / 2 / 80);
  std::unordered_set<std::string> seen;
  std::int64_t produced = 0;
  auto reported = SteadyClock::now();
  while (produced < total) {
    while (produced - std::max<std::int64_t>(0, offsets->Committed()) > lead) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    for (int i = 0; i < 20'000 && produced < total; ++i, ++produced) {
      Touchpoint touchpoint = population.Next();
      touchpoint.occurred_at = std::min(now, start + (touchpoint.occurred_at - Timestamp{}));
      seen.insert(touchpoint.customer_id.value());
      Check(Produce(*producer, kTopic, {touchpoint.customer_id.value(), Encode(touchpoint)}),
            "produce");
      producer->poll(0);
    }
    if (SteadyClock::now() - reported > std::chrono::seconds(10)) {
      std::cerr << "  footprint " << customers << ": produced " << produced << "/" << total
                << ", stored " << offsets->Committed() << "\n";
      reported = SteadyClock::now();
    }
  }
  producer->flush(60'000);
  WaitForIngest(*offsets, service, 0, total, "footprint");
  const double peak_rss = ProcessMemory(service.pid(), "VmHWM");
  const double rss = ProcessMemory(service.pid(), "VmRSS");
  if (service.Stop() != 0) Fail("crm-scored did not stop cleanly:\n" + service.Log());
  const auto n = static_cast<double>(seen.size());
  report.Add(phase, tag + "customers", n, "");
  report.Add(phase, tag + "peak_rss_mb", peak_rss / (1 << 20), "MiB");
  report.Add(phase, tag + "rss_at_end_mb", rss / (1 << 20), "MiB");
  report.Add(phase, tag + "disk_bytes_per_customer",
             static_cast<double>(DirectoryBytes(service.data_dir())) / n, "B");
  // Settled: after a full compaction, as a long-running store would be. Of
  // it, the recent touchpoints (the "h" keys, beside the states): apart.
  std::uint64_t touchpoint_bytes = 0;
  {
    const std::unique_ptr<rocksdb::DB> db = OpenBare(service.data_dir());
    rocksdb::CompactRangeOptions compact;
    compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    db->CompactRange(compact, nullptr, nullptr);
    const std::string from(1, kTouchpointPrefix);
    const std::string to = PrefixEnd(from);
    const rocksdb::Range touchpoints(from, to);
    rocksdb::SizeApproximationOptions sizes;
    sizes.include_files = true;
    if (!db->GetApproximateSizes(sizes, db->DefaultColumnFamily(), &touchpoints, 1,
                                 &touchpoint_bytes)
             .ok()) {
      Fail("cannot size the recent touchpoints");
    }
  }
  const auto compacted = static_cast<double>(DirectoryBytes(service.data_dir(), ".sst"));
  report.Add(phase, tag + "compacted_bytes_per_customer", compacted / n, "B");
  report.Add(phase, tag + "compacted_state_bytes_per_customer",
             (compacted - static_cast<double>(touchpoint_bytes)) / n, "B");
  report.Add(phase, tag + "compacted_touchpoints_bytes_per_customer",
             static_cast<double>(touchpoint_bytes) / n, "B");
}

// Fails unless the topic holds every record of the workload, none dropped.
void CheckTopicWhole(const Broker& broker, int partitions, std::size_t touchpoints) {
  auto producer = Take(MakeBenchProducer(broker.bootstrap, 0), "producer");
  const Watermarks marks = Take(QueryWatermarks(*producer, kTopic, partitions), "watermarks");
  for (int p = 0; p < partitions; ++p) {
    if (marks.low[p] != 0) {
      Fail("the broker dropped the oldest batches of partition " + std::to_string(p) +
           ": use more --partitions");
    }
  }
  if (marks.total() != static_cast<std::int64_t>(touchpoints)) {
    Fail("the topic holds " + std::to_string(marks.total()) + " records, not " +
         std::to_string(touchpoints));
  }
}

// gRPC lookups then HTTP ones (GET /v1/customers/{id}/scores) on one
// process's addresses, with the process's CPU per call for each.
struct TransportCosts {
  LookupResult grpc;
  HttpLookupResult http;
  Summary http_latency;
  double grpc_cpu_us = 0, http_cpu_us = 0;
};
TransportCosts MeasureLookups(pid_t pid, const std::string& grpc_address,
                              const std::string& http_address,
                              const std::vector<std::string>& customers, const Options& options) {
  TransportCosts costs;
  const std::int64_t cpu_before = ProcessCpuMicros(pid);
  costs.grpc = Lookups(grpc_address, customers, options.lookup_callers, options.seconds);
  const std::int64_t cpu_between = ProcessCpuMicros(pid);
  costs.http = HttpLookups(http_address, customers, options.lookup_callers, options.seconds);
  const std::int64_t cpu_after = ProcessCpuMicros(pid);
  costs.grpc_cpu_us = static_cast<double>(cpu_between - cpu_before) /
                      static_cast<double>(std::max<std::size_t>(costs.grpc.latency.count, 1));
  costs.http_cpu_us =
      static_cast<double>(cpu_after - cpu_between) /
      static_cast<double>(std::max<std::size_t>(costs.http.samples_us.size(), std::size_t{1}));
  costs.http_latency = Summarise(std::move(costs.http.samples_us));
  return costs;
}

void ReportCosts(Report& report, const std::string& prefix, const TransportCosts& costs) {
  report.Add("http", prefix + "grpc_calls_per_s", costs.grpc.rate, "/s");
  ReportSummary(report, "http", prefix + "grpc_", costs.grpc.latency);
  report.Add("http", prefix + "grpc_cpu_us_per_call", costs.grpc_cpu_us, "us");
  report.Add("http", prefix + "http_calls_per_s", costs.http.rate, "/s");
  ReportSummary(report, "http", prefix + "http_", costs.http_latency);
  report.Add("http", prefix + "http_cpu_us_per_call", costs.http_cpu_us, "us");
}

// The same lookups over gRPC then over HTTP/JSON, nothing ingested meanwhile,
// with the service's CPU per call for each: what the HTTP edge costs beside
// gRPC; then the same on crm-bench-empty (the same transports, an empty
// handler behind them): what a lookup costs beside its transport, in the
// same run.
void HttpBesideGrpc(const Options& options, const Service& service, const Workload& workload,
                    const fs::path& dir, Report& report) {
  std::cerr << "http: " << options.lookup_callers << " callers over gRPC, then over HTTP\n";
  const TransportCosts scored = MeasureLookups(service.pid(), service.grpc_address(),
                                               service.http_address(), workload.customers, options);
  std::cerr << "http: the same on empty handlers (crm-bench-empty)\n";
  ChildProcess empty(options.empty_server, {}, dir / "empty.log");
  const auto empty_grpc = empty.WaitForLog("gRPC listening on ", std::chrono::seconds(30));
  const auto empty_http = empty.WaitForLog("HTTP listening on ", std::chrono::seconds(30));
  if (!empty_grpc || !empty_http) Fail("crm-bench-empty did not start:\n" + empty.Log());
  const TransportCosts bare =
      MeasureLookups(empty.pid(), *empty_grpc, *empty_http, workload.customers, options);
  if (empty.Stop(SIGTERM) != 0) Fail("crm-bench-empty did not stop cleanly:\n" + empty.Log());
  ReportCosts(report, "", scored);
  report.Add("http", "cpu_ratio_http_to_grpc", scored.http_cpu_us / scored.grpc_cpu_us, "");
  ReportCosts(report, "empty_", bare);
  report.Add("http", "cpu_ratio_grpc_to_empty", scored.grpc_cpu_us / bare.grpc_cpu_us, "");
  report.Add("http", "cpu_ratio_http_to_empty", scored.http_cpu_us / bare.http_cpu_us, "");
  const std::int64_t errors =
      scored.grpc.errors + scored.http.errors + bare.grpc.errors + bare.http.errors;
  report.Add("http", "errors", static_cast<double>(errors), "");
  if (errors > 0) Fail("lookups failed: see the errors above");
}

// What crm-scored's phases are measured against: the bare consumer's and the
// bare RocksDB loop's rates (0: not measured).
struct Ceilings {
  double raw_rate = 0, storage_rate = 0;
};

// The phases that run crm-scored on the produced workload: ingest,
// freshness, lookups.
void ServicePhases(const Options& options, const Broker& broker, const fs::path& dir,
                   const Workload& workload, int partitions, Ceilings ceilings, Report& report) {
  Service service(options, broker, dir, "scored");
  auto offsets =
      Take(GroupOffsets::Create(broker.bootstrap, kGroup, kTopic, partitions), "group offsets");
  std::cerr << "ingest: crm-scored drains the topic\n";
  const IngestResult ingest =
      WaitForIngest(*offsets, service, 0, static_cast<std::int64_t>(options.touchpoints), "ingest");
  if (Wants(options, "ingest")) {
    report.Add("ingest", "records_per_s", ingest.rate, "/s");
    report.Add("ingest", "cpu_us_per_record", ingest.cpu_us_per_record, "us");
    const double rejected = service.Metric("crm_touchpoints_rejected_total");
    report.Add("ingest", "rejected", rejected, "");
    if (rejected != 0) Fail("crm-scored rejected touchpoints of the workload:\n" + service.Log());
    if (ceilings.storage_rate > 0) {
      report.Add("ingest", "ratio_to_storage", ingest.rate / ceilings.storage_rate, "");
    }
    if (ceilings.raw_rate > 0) {
      report.Add("ingest", "ratio_to_raw", ingest.rate / ceilings.raw_rate, "");
    }
  }
  std::int64_t consumed = static_cast<std::int64_t>(options.touchpoints);
  if (Wants(options, "freshness") || Wants(options, "lookups") || Wants(options, "http")) {
    const auto [looks, seconds] = WaitForLooks(service);
    report.Add("ingest", "catch_up_looks", looks, "");
    report.Add("ingest", "catch_up_looks_seconds", seconds, "s");
  }
  if (Wants(options, "freshness")) {
    for (double rate : options.freshness_rates) {
      const std::string run = std::to_string(static_cast<int>(rate / 1000)) + "k";
      std::cerr << "freshness: probes at " << rate << " touchpoints/s offered\n";
      LoadGenerator load(broker.bootstrap, kTopic, workload.customers, rate, options.seed + 1);
      Check(load.Start(), "load");
      const Summary summary = Freshness(options, broker, service, options.seconds, run,
                                        dir / ("freshness-" + run + ".csv"));
      load.Stop();
      report.Add("freshness", run + "_offered_per_s", load.achieved_rate(), "/s");
      ReportSummary(report, "freshness", run + "_", summary);
      consumed += load.produced() + static_cast<std::int64_t>(summary.count);
      WaitForIngest(*offsets, service, 0, consumed, "freshness backlog");
    }
  }
  if (Wants(options, "lookups")) {
    std::cerr << "lookups: " << options.lookup_callers << " callers while ingesting "
              << options.lookup_ingest_rate << "/s\n";
    LoadGenerator load(broker.bootstrap, kTopic, workload.customers, options.lookup_ingest_rate,
                       options.seed + 2);
    Check(load.Start(), "load");
    const LookupResult lookups = Lookups(service.grpc_address(), workload.customers,
                                         options.lookup_callers, options.seconds);
    load.Stop();
    report.Add("lookups", "ingest_offered_per_s", load.achieved_rate(), "/s");
    report.Add("lookups", "calls_per_s", lookups.rate, "/s");
    ReportSummary(report, "lookups", "", lookups.latency);
    report.Add("lookups", "errors", static_cast<double>(lookups.errors), "");
    if (lookups.errors > 0) Fail("lookups failed: see the errors above");
    consumed += load.produced();
    WaitForIngest(*offsets, service, 0, consumed, "lookup backlog");
  }
  if (Wants(options, "http")) HttpBesideGrpc(options, service, workload, dir, report);
  if (service.Stop() != 0) Fail("crm-scored did not stop cleanly:\n" + service.Log());
}

// The phases on the produced stream: raw, storage, ingest, freshness, lookups.
void StreamPhases(const Options& options, const fs::path& dir, Report& report) {
  std::cerr << "generating the workload\n";
  const Workload workload =
      MakeWorkload(options.touchpoints, options.customers, options.seed, Wants(options, "storage"));
  report.Add("workload", "record_bytes_mean", workload.mean_record_bytes, "B");
  report.Add("workload", "customers_seen", static_cast<double>(workload.customers.size()), "");
  const int partitions =
      options.partitions > 0
          ? options.partitions
          : std::max(6, static_cast<int>(std::ceil(static_cast<double>(options.touchpoints) *
                                                   (workload.mean_record_bytes + 70) /
                                                   kBytesPerPartition)));
  report.Add("workload", "partitions", partitions, "");
  Broker broker = StartBroker(options, dir, partitions);
  std::cerr << "producing " << options.touchpoints << " touchpoints to " << partitions
            << " partitions\n";
  Check(ProduceAll(broker.bootstrap, kTopic, workload.records), "producing");
  CheckTopicWhole(broker, partitions, options.touchpoints);
  double raw_rate = 0, ceiling_rate = 0;
  if (Wants(options, "raw")) {
    std::cerr << "raw: a bare consumer drains the topic\n";
    const DrainResult drain = Take(
        Drain(broker.bootstrap, kTopic, partitions, static_cast<std::int64_t>(options.touchpoints)),
        "raw drain");
    raw_rate = drain.rate();
    report.Add("raw", "records_per_s", raw_rate, "/s");
    report.Add("raw", "cpu_us_per_record", drain.cpu_us_per_record, "us");
  }
  if (Wants(options, "storage")) {
    std::cerr << "storage: the bare RocksDB loop\n";
    ceiling_rate = StorageCeiling(workload, dir, report);
  }
  if (Wants(options, "ingest") || Wants(options, "freshness") || Wants(options, "lookups") ||
      Wants(options, "http")) {
    ServicePhases(options, broker, dir, workload, partitions, {raw_rate, ceiling_rate}, report);
  }
  broker.process->Stop(SIGTERM);
}

int Run(const Options& options) {
  fs::path dir = options.work_dir;
  if (dir.empty()) {
    std::string pattern = (fs::temp_directory_path() / "crm-bench-XXXXXX").string();
    dir = mkdtemp(pattern.data());
  }
  fs::create_directories(dir);
  std::cerr << "crm-bench: working in " << dir << "\n";
  Report report;
  std::cout << "# crm-bench: " << options.touchpoints << " touchpoints of " << options.customers
            << " customers, " << std::thread::hardware_concurrency() << " cores\n";

  const bool needs_stream = Wants(options, "raw") || Wants(options, "storage") ||
                            Wants(options, "ingest") || Wants(options, "freshness") ||
                            Wants(options, "lookups") || Wants(options, "http");
  if (needs_stream) StreamPhases(options, dir, report);
  if (Wants(options, "footprint")) {
    for (int customers : options.footprint_customers) {
      std::cerr << "footprint: " << customers << " customers\n";
      Footprint(options, dir, customers, report);
    }
  }
  if (Wants(options, "schedule")) {
    for (std::int64_t customers : options.schedule_customers) {
      std::cerr << "schedule: " << customers << " customers\n";
      const RebuildFigures f = MeasureScheduleRebuild(dir, customers, options.schedule_partitions,
                                                      options.schedule_entries, options.seed);
      const std::string tag = std::to_string(customers / 1000) + "k_";
      report.Add("schedule", tag + "write_s", f.write_seconds, "s");
      report.Add("schedule", tag + "data_bytes_per_customer", f.data_bytes_per_customer, "B");
      report.Add("schedule", tag + "rebuild_s", f.rebuild_seconds, "s");
      report.Add("schedule", tag + "rebuild_us_per_customer", f.us_per_customer, "us");
      report.Add("schedule", tag + "held_looks", f.held_looks, "");
      report.Add("schedule", tag + "heap_mib", f.heap_bytes / (1 << 20), "MiB");
      report.Add("schedule", tag + "heap_bytes_per_held_look", f.heap_bytes / f.held_looks, "B");
      std::filesystem::remove_all(dir / "schedule");
    }
  }
  if (!options.json.empty()) std::ofstream(options.json) << report.Json(options);
  if (!options.keep && options.work_dir.empty()) fs::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace crm::bench

// What may escape is what ends the process anyway (allocation failure).
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  crm::bench::Options options;
  CLI::App app(
      "crm-bench: measures crm-scored against the limits of its own parts, in one run on this "
      "machine. It starts crm-devbroker, pre-produces the demo population's touchpoints, and "
      "measures: raw (a bare librdkafka consumer draining them), storage (bare RocksDB batched "
      "writes of the states they leave, 1,000 a batch, WAL on), ingest (crm-scored draining the "
      "same touchpoints until their offsets are stored), freshness (produced -> visible through "
      "gRPC at fixed offered rates), lookups (GetCustomerScores from concurrent callers while "
      "ingesting), http (the same lookups over gRPC then HTTP/JSON, with the service's CPU per "
      "call), footprint (disk bytes per customer and peak RSS) and schedule (the time index in "
      "memory built from a data dir's states, as at an assignment). Prints one figure a line; "
      "--json writes them all.");
  app.add_option("--touchpoints", options.touchpoints, "Touchpoints pre-produced")
      ->capture_default_str();
  app.add_option("--customers", options.customers, "Customers of the demo population")
      ->capture_default_str();
  app.add_option("--partitions", options.partitions,
                 "Partitions of the broker (0: enough to hold the touchpoints)")
      ->capture_default_str();
  app.add_option("--phases", options.phases,
                 "Phases to run: raw, storage, ingest, freshness, lookups, http, footprint, "
                 "schedule")
      ->delimiter(',')
      ->check(CLI::IsMember(crm::bench::AllPhases()))
      ->capture_default_str();
  app.add_option("--freshness-rates", options.freshness_rates,
                 "Offered touchpoints/s of the freshness runs")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--lookup-ingest-rate", options.lookup_ingest_rate,
                 "Touchpoints/s offered while the lookups run")
      ->capture_default_str();
  app.add_option("--lookup-callers", options.lookup_callers, "Concurrent GetCustomerScores callers")
      ->capture_default_str();
  app.add_option("--probe-interval-us", options.probe_interval_us,
                 "Pause between a freshness probe's GetCustomerScores calls (its resolution; "
                 "each call costs the service CPU)")
      ->capture_default_str()
      ->check(CLI::Range(10, 100'000));
  app.add_option("--seconds", options.seconds, "Length of each freshness run and of the lookups")
      ->capture_default_str();
  app.add_option("--footprint-customers", options.footprint_customers,
                 "Customers of each footprint run")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--footprint-touchpoints", options.footprint_touchpoints,
                 "Touchpoints per customer in the footprint runs")
      ->capture_default_str();
  app.add_option("--schedule-customers", options.schedule_customers,
                 "Customers of each schedule run (states written, then the time index built)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--schedule-partitions", options.schedule_partitions,
                 "Partitions the schedule runs' states are under")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--schedule-entries", options.schedule_entries,
                 "Looks held in memory in all in the schedule runs, shared out among the "
                 "partitions (crm-scored's --schedule-entries)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000'000}));
  app.add_option("--seed", options.seed, "Seed of the demo population")->capture_default_str();
  app.add_option("--scored", options.scored, "The crm-scored binary")->capture_default_str();
  app.add_option("--devbroker", options.devbroker, "The crm-devbroker binary")
      ->capture_default_str();
  app.add_option("--empty-server", options.empty_server,
                 "The crm-bench-empty binary (the lookups' transports, nothing behind them)")
      ->capture_default_str();
  app.add_option("--scored-arg", options.scored_args,
                 "A flag passed on to crm-scored (repeatable), e.g. --scored-arg=--clock=event");
  app.add_option("--work-dir", options.work_dir, "Where data and logs go (default: a temp dir)");
  app.add_flag("--keep", options.keep, "Keep the temp dir");
  app.add_option("--json", options.json, "Write the figures as JSON to this file");
  if (auto code = crm::ParseCommandLine(app, argc, argv)) return *code;
  return crm::bench::Run(options);
}
