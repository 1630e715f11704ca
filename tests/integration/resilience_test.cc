// What the environment can do to a running instance, on the real stack: a
// full disk, a poisoned changelog record, brokers down at start. Each pauses
// or costs what it must and no more: reads go on, nothing is lost or doubled.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "crm/v1/scoring.grpc.pb.h"
#include "services/kafka/embedded_broker.h"
#include "services/kafka/kafka_config.h"
#include "tests/integration/service_process.h"
#include "tests/integration/test_cluster.h"
#include "tests/integration/touchpoint_producer.h"
#include "tools/grpc_health.h"
#include "tools/scrape.h"

namespace crm {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::ProduceRecords;
using testing::ProduceTouchpoints;
using testing::RunningService;
using testing::StartService;
using testing::TempDir;

v1::Touchpoint Event(const std::string& customer, const std::string& id, int day) {
  return testing::DayTouchpoint(customer, id, day, v1::PURCHASE, 40);
}

// Waits until `condition` holds; false at the deadline.
bool WaitFor(const std::function<bool()>& condition, std::chrono::seconds deadline = 60s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!condition() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(100ms);
  }
  return condition();
}

// The touchpoints applied to `customer` (nullopt: the lookup failed).
std::optional<std::uint64_t> Applied(v1::ScoringService::Stub& stub, const std::string& customer) {
  v1::GetCustomerStateRequest request;
  request.set_customer_id(customer);
  v1::CustomerState state;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  if (!stub.GetCustomerState(&context, request, &state).ok()) return std::nullopt;
  return state.events_applied();
}

HealthState IngestHealth(const std::shared_ptr<grpc::Channel>& channel) {
  return CheckHealth(channel, "crm.v1.Ingest").value_or(HealthState::kUnknown);
}

std::size_t Count(const std::string& text, const std::string& what) {
  std::size_t count = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++count;
  }
  return count;
}

// The disk fills up mid-stream (a fault injected at the storage adapter:
// every commit fails with RocksDB's NoSpace while a file exists): ingestion
// pauses (health crm.v1.Ingest NOT_SERVING, crm_storage_full 1, one log
// line), reads are answered from the state, and once space returns the
// commit is retried and every touchpoint is applied exactly once.
TEST(StorageFullTest, AFullDiskPausesIngestionKeepsReadsAndResumesWithNothingLostOrDoubled) {
  TempDir dir;
  auto broker = testing::TestKafka::Start(ContractTopics(2));
  ASSERT_TRUE(broker.ok()) << broker.status();
  constexpr int kCustomers = 5;
  std::vector<v1::Touchpoint> before, during;
  for (int i = 0; i < 50; ++i) {
    before.push_back(Event("c" + std::to_string(i % kCustomers), "b" + std::to_string(i), i));
    during.push_back(Event("c" + std::to_string(i % kCustomers), "d" + std::to_string(i), 50 + i));
  }
  ProduceTouchpoints((*broker)->bootstrap(), before);
  const auto full = dir.path() / "disk-full";
  RunningService service =
      StartService((*broker)->bootstrap(), dir.path() / "data", dir.path() / "service.log", {},
                   "resilience-test", {"CRM_FAIL_POINTS=commit-no-space@" + full.string()});
  auto channel = grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials());
  auto stub = v1::ScoringService::NewStub(channel);
  const auto total = [&] {
    std::uint64_t sum = 0;
    for (int c = 0; c < kCustomers; ++c) sum += Applied(*stub, "c" + std::to_string(c)).value_or(0);
    return sum;
  };
  ASSERT_TRUE(WaitFor([&] { return total() == 50; })) << service.process->Log();
  EXPECT_EQ(IngestHealth(channel), HealthState::kServing);
  EXPECT_EQ(SumSamples(HttpGet(service.metrics).value_or(""), "crm_storage_full"), 0);

  // The disk is full: the next commit fails, ingestion pauses.
  std::ofstream(full) << "full\n";
  ProduceTouchpoints((*broker)->bootstrap(), during);
  ASSERT_TRUE(WaitFor([&] { return IngestHealth(channel) == HealthState::kNotServing; }))
      << service.process->Log();
  EXPECT_EQ(SumSamples(HttpGet(service.metrics).value_or(""), "crm_storage_full"), 1);
  EXPECT_EQ(CheckHealth(channel).value_or(HealthState::kUnknown), HealthState::kServing);
  // Retried while full: more records read than were produced, so some were
  // read again (each retry reads what is not committed, and fails) ...
  ASSERT_TRUE(WaitFor([&] {
    return SumSamples(HttpGet(service.metrics).value_or(""), "crm_touchpoints_consumed_total") >
           50 + 50;
  })) << service.process->Log();
  // ... and meanwhile reads are answered, from the state as last committed.
  EXPECT_EQ(total(), 50u);
  EXPECT_EQ(Count(service.process->Log(), "the disk is full"), 1u) << service.process->Log();
  EXPECT_EQ(service.process->Wait(200ms), -1) << "the process stays up";

  // Space returns: the retry succeeds, ingestion resumes.
  std::filesystem::remove(full);
  ASSERT_TRUE(WaitFor([&] { return total() >= 100; })) << service.process->Log();
  ASSERT_TRUE(WaitFor([&] { return IngestHealth(channel) == HealthState::kServing; }));
  EXPECT_EQ(SumSamples(HttpGet(service.metrics).value_or(""), "crm_storage_full"), 0);
  for (int c = 0; c < kCustomers; ++c) {
    EXPECT_EQ(Applied(*stub, "c" + std::to_string(c)), 20u) << "c" << c << ": each once";
  }
  EXPECT_NE(service.process->Log().find("ingestion resumed"), std::string::npos);
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();
}

grpc::Status Lookup(v1::ScoringService::Stub& stub, const std::string& customer) {
  v1::GetCustomerStateRequest request;
  request.set_customer_id(customer);
  v1::CustomerState state;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  return stub.GetCustomerState(&context, request, &state);
}

// A garbage record on crm.state.changelog, in the partition of a customer:
// the instance that restores that partition answers its customers
// UNAVAILABLE naming it, counts it in crm_partition_restore_failures_total,
// and goes on serving and ingesting the other partition; the operator's
// repair (a tombstone of the bad key, then a restart) brings it back.
TEST(ChangelogPoisonTest, ABadChangelogRecordCostsOnePartitionNotTheInstance) {
  TempDir dir;
  constexpr int kPartitions = 2;
  auto broker = testing::TestKafka::Start(ContractTopics(kPartitions));
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string brokers = (*broker)->bootstrap();
  // Customers by the partition their key goes to.
  std::vector<std::string> on[kPartitions];
  for (int c = 0; on[0].size() < 3 || on[1].size() < 3; ++c) {
    const std::string id = "c" + std::to_string(c);
    on[KafkaPartitionOf("consistent_random", id, kPartitions)].push_back(id);
  }
  std::vector<v1::Touchpoint> touchpoints;
  for (int p = 0; p < kPartitions; ++p) {
    for (const std::string& id : on[p]) {
      for (int i = 0; i < 4; ++i) touchpoints.push_back(Event(id, id + "-" + std::to_string(i), i));
    }
  }
  ProduceTouchpoints(brokers, touchpoints);
  {
    RunningService first = StartService(brokers, dir.path() / "first", dir.path() / "first.log");
    auto stub = v1::ScoringService::NewStub(
        grpc::CreateChannel(first.grpc, grpc::InsecureChannelCredentials()));
    for (int p = 0; p < kPartitions; ++p) {
      for (const std::string& id : on[p]) ASSERT_TRUE(testing::WaitApplied(*stub, id, 4)) << id;
    }
    EXPECT_EQ(first.process->Stop(SIGTERM), 0) << first.process->Log();
  }
  // The poison: a record of the customer's key that is no customer state.
  ProduceRecords(brokers, "crm.state.changelog",
                 {{.key = on[0][0], .value = std::string("\xff\xff\xff garbage \x01")}});

  const auto data = dir.path() / "second";
  RunningService second = StartService(brokers, data, dir.path() / "second.log");
  auto stub = v1::ScoringService::NewStub(
      grpc::CreateChannel(second.grpc, grpc::InsecureChannelCredentials()));
  // The other partition is restored and served.
  for (const std::string& id : on[1]) ASSERT_TRUE(testing::WaitApplied(*stub, id, 4)) << id;
  ASSERT_TRUE(WaitFor([&] {
    return SumSamples(HttpGet(second.metrics).value_or(""),
                      "crm_partition_restore_failures_total") == 1;
  })) << second.process->Log();
  for (const std::string& id : on[0]) {
    const grpc::Status status = Lookup(*stub, id);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << id;
    EXPECT_NE(status.error_message().find("partition 0"), std::string::npos)
        << status.error_message();
  }
  EXPECT_NE(second.process->Log().find("cannot restore " + testing::TestTopic("crm.touchpoints") +
                                       "[0] from its changelog"),
            std::string::npos)
      << second.process->Log();
  // Ingestion goes on for the other partition; the process is alive.
  ProduceTouchpoints(brokers, {Event(on[1][0], "later", 10)});
  ASSERT_TRUE(testing::WaitApplied(*stub, on[1][0], 5)) << second.process->Log();
  EXPECT_EQ(second.process->Wait(200ms), -1);
  EXPECT_EQ(second.process->Stop(SIGTERM), 0) << second.process->Log();

  // The repair (docs/architecture.md, "A bad changelog record"): a tombstone
  // of the bad key, then a restart: the partition is restored whole.
  ProduceRecords(brokers, "crm.state.changelog", {{.key = on[0][0], .value = ""}});
  RunningService repaired = StartService(brokers, data, dir.path() / "repaired.log");
  auto again = v1::ScoringService::NewStub(
      grpc::CreateChannel(repaired.grpc, grpc::InsecureChannelCredentials()));
  for (const std::string& id : on[0]) {
    ASSERT_TRUE(testing::WaitApplied(*again, id, 4)) << id << repaired.process->Log();
  }
  EXPECT_TRUE(testing::WaitApplied(*again, on[1][0], 5));
  EXPECT_EQ(repaired.process->Stop(SIGTERM), 0) << repaired.process->Log();
}

// The brokers are down when the service starts: it starts anyway with what
// it has on disk, answers reads from it (ingest NOT_SERVING in health,
// crm_input_connected 0), and joins the cluster topic, the group and the
// changelog when the brokers come, ingesting what they hold.
TEST(BrokersDownAtStartTest, TheServiceStartsOnItsDataDirAndJoinsWhenTheBrokersCome) {
  if (testing::OnExternalKafka()) GTEST_SKIP() << "takes the broker down: the mock's SetReachable";
  TempDir dir;
  auto broker = testing::TestKafka::Start(ContractTopics(2));
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string brokers = (*broker)->bootstrap();
  std::vector<v1::Touchpoint> before, after;
  for (int i = 0; i < 20; ++i) {
    before.push_back(Event("c" + std::to_string(i % 4), "b" + std::to_string(i), i));
    after.push_back(Event("c" + std::to_string(i % 4), "a" + std::to_string(i), 20 + i));
  }
  ProduceTouchpoints(brokers, before);
  const auto data = dir.path() / "data";
  const std::vector<std::string> reconnect = {"--kafka", "reconnect.backoff.max.ms=500"};
  {
    RunningService first = StartService(brokers, data, dir.path() / "first.log", reconnect);
    auto stub = v1::ScoringService::NewStub(
        grpc::CreateChannel(first.grpc, grpc::InsecureChannelCredentials()));
    for (int c = 0; c < 4; ++c)
      ASSERT_TRUE(testing::WaitApplied(*stub, "c" + std::to_string(c), 5));
    EXPECT_EQ(first.process->Stop(SIGTERM), 0) << first.process->Log();
  }

  ASSERT_TRUE((*broker)->SetReachable(false).ok());
  RunningService service = StartService(brokers, data, dir.path() / "service.log", reconnect);
  ASSERT_FALSE(service.grpc.empty());
  auto channel = grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials());
  auto stub = v1::ScoringService::NewStub(channel);
  // Past the point where it used to give up ("no metadata", exit 1), alive.
  ASSERT_TRUE(testing::WaitForMetric(service.metrics, "crm_input_disconnects_total", 1))
      << service.process->Log();
  // What the operator reads (the line follows the metric).
  EXPECT_TRUE(service.process->WaitForLog("the brokers do not answer", 10s))
      << service.process->Log();
  EXPECT_EQ(service.process->Wait(1s), -1) << service.process->Log();
  EXPECT_EQ(IngestHealth(channel), HealthState::kNotServing);
  EXPECT_EQ(CheckHealth(channel).value_or(HealthState::kUnknown), HealthState::kServing);
  EXPECT_EQ(SumSamples(HttpGet(service.metrics).value_or(""), "crm_input_connected"), 0);
  for (int c = 0; c < 4; ++c) {
    EXPECT_EQ(Applied(*stub, "c" + std::to_string(c)), 5u) << "c" << c << ", from the data dir";
  }

  // The brokers come: it joins, and ingests what they hold.
  ASSERT_TRUE((*broker)->SetReachable(true).ok());
  ProduceTouchpoints(brokers, after);
  for (int c = 0; c < 4; ++c) {
    ASSERT_TRUE(testing::WaitApplied(*stub, "c" + std::to_string(c), 10)) << service.process->Log();
  }
  ASSERT_TRUE(WaitFor([&] { return IngestHealth(channel) == HealthState::kServing; }));
  EXPECT_EQ(SumSamples(HttpGet(service.metrics).value_or(""), "crm_input_connected"), 1);
  for (int c = 0; c < 4; ++c) EXPECT_EQ(Applied(*stub, "c" + std::to_string(c)), 10u);
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();
}

}  // namespace
}  // namespace crm
