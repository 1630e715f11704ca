// What compaction of the changelog topic may not undo: an erasure. Only a
// real Kafka cluster compacts (the mock keeps every record), so these tests
// run under CRM_TEST_BROKERS and skip themselves on the mock, saying why.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "crm/v1/scoring.grpc.pb.h"
#include "services/kafka/embedded_broker.h"
#include "tests/integration/service_process.h"
#include "tests/integration/test_cluster.h"
#include "tests/integration/touchpoint_producer.h"

namespace crm {
namespace {

using namespace std::chrono_literals;
using testing::RunningService;
using testing::ScoresStatus;
using testing::StartService;
using testing::TempDir;
using testing::WaitApplied;

constexpr char kToken[] = "0123456789abcdef-ops-token";

std::unique_ptr<v1::ScoringService::Stub> StubOf(const RunningService& service) {
  return v1::ScoringService::NewStub(
      grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials()));
}

// Whether the changelog still holds any record of `customer` (their state or
// their tombstone).
bool ChangelogHolds(const std::string& brokers, const std::string& customer) {
  for (const testing::TestRecord& record :
       testing::ReadTopic(brokers, testing::TestTopic("crm.state.changelog"), 1, 3s)) {
    if (record.key == customer) return true;
  }
  return false;
}

// A owns the partition and checkpoints it; the partition moves to B (A
// leaves), B erases a customer, compaction removes every record of theirs,
// tombstone included; the partition returns to A, whose local checkpoint
// predates the erasure. A does not replay from that checkpoint (it is older
// than the tombstone retention allows to trust): the customer is NOT_FOUND
// on A, and everyone else is still there.
TEST(CompactionTest, AnErasedCustomerStaysErasedOnAnOwnerWhoseCheckpointPredatesTheCompaction) {
  if (!testing::OnExternalKafka()) {
    GTEST_SKIP() << "the mock cluster never compacts a topic; run with CRM_TEST_BROKERS";
  }
  // Segments that roll at once, cleaned as soon as dirty, tombstones kept a
  // minute (the least --changelog-delete-retention-ms takes): the log cleaner
  // (log.cleaner.backoff.ms, 15 s by default) removes an erased customer's
  // records, tombstone included, within two or three minutes.
  constexpr char kRetentionMs[] = "60000";
  auto kafka = testing::TestKafka::Start(ContractTopics(1), 1,
                                         {{"crm.state.changelog",
                                           {{"segment.ms", "100"},
                                            {"min.cleanable.dirty.ratio", "0"},
                                            {"min.compaction.lag.ms", "0"},
                                            {"delete.retention.ms", kRetentionMs}}}});
  ASSERT_TRUE(kafka.ok()) << kafka.status();
  const std::string brokers = (*kafka)->bootstrap();
  TempDir dir;
  std::ofstream(dir.path() / "tokens") << kToken << "\n";
  const std::vector<std::string> flags = {"--admin-token-file", (dir.path() / "tokens").string(),
                                          "--changelog-delete-retention-ms", kRetentionMs};
  std::vector<v1::Touchpoint> touchpoints;
  for (int i = 0; i < 10; ++i) {
    touchpoints.push_back(
        testing::DayTouchpoint("erased", "x" + std::to_string(i), 14 * i, v1::PURCHASE, 40));
    touchpoints.push_back(
        testing::DayTouchpoint("kept", "k" + std::to_string(i), 14 * i, v1::PURCHASE, 40));
  }
  testing::ProduceTouchpoints(brokers, touchpoints);

  // A applies them and checkpoints; then leaves.
  RunningService a = StartService(brokers, dir.path() / "a", dir.path() / "a.log", flags);
  ASSERT_TRUE(WaitApplied(*StubOf(a), "erased", 10)) << a.process->Log();
  ASSERT_TRUE(WaitApplied(*StubOf(a), "kept", 10)) << a.process->Log();
  ASSERT_EQ(a.process->Stop(SIGTERM), 0) << a.process->Log();

  // B takes the partition over, restored from the changelog, and erases.
  RunningService b = StartService(brokers, dir.path() / "b", dir.path() / "b.log", flags);
  auto b_stub = StubOf(b);
  ASSERT_TRUE(WaitApplied(*b_stub, "erased", 10)) << b.process->Log();
  {
    v1::EraseCustomerRequest request;
    request.set_customer_id("erased");
    v1::EraseCustomerResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 30s);
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    ASSERT_TRUE(b_stub->EraseCustomer(&context, request, &response).ok()) << b.process->Log();
    ASSERT_TRUE(response.erased());
  }
  EXPECT_EQ(ScoresStatus(*b_stub, "erased"), grpc::StatusCode::NOT_FOUND);

  // B goes on committing (a segment rolls only on a later write) until the
  // cleaner has removed every record of the erased customer.
  int day = 200;
  const auto until = std::chrono::steady_clock::now() + 5min;
  bool compacted = false;
  while (!compacted && std::chrono::steady_clock::now() < until) {
    testing::ProduceTouchpoints(
        brokers,
        {testing::DayTouchpoint("filler", "f" + std::to_string(day), day, v1::CONTACT, 0)});
    ++day;
    std::this_thread::sleep_for(1s);
    compacted = !ChangelogHolds(brokers, "erased");
  }
  ASSERT_TRUE(compacted) << "the cluster did not compact the changelog in 5 minutes: is its "
                            "log cleaner enabled (log.cleaner.enable)?";
  ASSERT_TRUE(WaitApplied(*b_stub, "filler", static_cast<std::uint64_t>(day - 200)))
      << b.process->Log();
  ASSERT_EQ(b.process->Stop(SIGTERM), 0) << b.process->Log();

  // The partition returns to A, whose checkpoint is from before all this.
  a = StartService(brokers, dir.path() / "a", dir.path() / "a-again.log", flags);
  auto a_stub = StubOf(a);
  ASSERT_TRUE(WaitApplied(*a_stub, "filler", static_cast<std::uint64_t>(day - 200)))
      << a.process->Log();
  // Once A answers for the partition again (every partition restored):
  const auto restored = std::chrono::steady_clock::now() + 60s;
  while (ScoresStatus(*a_stub, "kept") != grpc::StatusCode::OK &&
         std::chrono::steady_clock::now() < restored) {
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_EQ(ScoresStatus(*a_stub, "kept"), grpc::StatusCode::OK) << a.process->Log();
  EXPECT_EQ(ScoresStatus(*a_stub, "erased"), grpc::StatusCode::NOT_FOUND) << a.process->Log();
  EXPECT_EQ(a.process->Stop(SIGTERM), 0) << a.process->Log();
}

}  // namespace
}  // namespace crm
