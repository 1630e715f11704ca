// A customer's recent touchpoints on the real stack: kept as they are
// applied, shown by GetCustomerState, latest first and bounded, and erased
// with the customer (nothing of theirs left in the data dir).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "crm/v1/scoring.grpc.pb.h"
#include "services/kafka/embedded_broker.h"
#include "services/storage/state_keys.h"
#include "tests/integration/service_process.h"
#include "tests/integration/test_cluster.h"
#include "tests/integration/touchpoint_producer.h"

namespace crm {
namespace {

using namespace std::chrono_literals;
using testing::ProduceTouchpoints;
using testing::RunningService;
using testing::StartService;
using testing::TempDir;
using testing::WaitApplied;

constexpr char kToken[] = "0123456789abcdef-ops-token";

// The customer's state as GetCustomerState answers it, and its status.
grpc::Status GetState(v1::ScoringService::Stub& stub, const std::string& customer,
                      v1::CustomerState* state) {
  v1::GetCustomerStateRequest request;
  request.set_customer_id(customer);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  return stub.GetCustomerState(&context, request, state);
}

// How many keys of the data dir at `data` start with `prefix` (the service stopped).
int KeysStartingWith(const std::filesystem::path& data, const std::string& prefix) {
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status opened =
      rocksdb::DB::OpenForReadOnly(rocksdb::Options(), data.string(), &raw);
  EXPECT_TRUE(opened.ok()) << opened.ToString();
  if (!opened.ok()) return -1;
  std::unique_ptr<rocksdb::DB> db(raw);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  int keys = 0;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++keys;
  return keys;
}

TEST(RecentTouchpointsTest, TheLatestTwentyAreShownLatestFirstAndErasedWithTheCustomer) {
  TempDir dir;
  std::ofstream(dir.path() / "tokens") << kToken << "\n";
  auto broker = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  // 25 of "c1", one in three a survey with a note; and 2 of "c10", whose id
  // extends theirs.
  std::vector<v1::Touchpoint> touchpoints;
  for (int i = 1; i <= 25; ++i) {
    v1::Touchpoint tp = testing::DayTouchpoint("c1", "e" + std::to_string(i), i, v1::PURCHASE, i);
    if (i % 3 == 0) {
      tp = testing::DayTouchpoint("c1", "e" + std::to_string(i), i, v1::SURVEY);
      tp.set_satisfaction(i % 11);
      (*tp.mutable_attributes())["note"] = "not kept";
    }
    touchpoints.push_back(tp);
  }
  touchpoints.push_back(touchpoints[24]);  // a duplicate: applied once, kept once
  touchpoints.push_back(testing::DayTouchpoint("c10", "x1", 1));
  touchpoints.push_back(testing::DayTouchpoint("c10", "x2", 2));
  ProduceTouchpoints((*broker)->bootstrap(), touchpoints);
  const std::vector<std::string> flags = {"--admin-token-file", (dir.path() / "tokens").string()};
  RunningService service =
      StartService((*broker)->bootstrap(), dir.path() / "data", dir.path() / "service.log", flags);
  auto stub = v1::ScoringService::NewStub(
      grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials()));
  // One partition: "c10"'s come after all of "c1"'s, the duplicate included.
  ASSERT_TRUE(WaitApplied(*stub, "c10", 2)) << service.process->Log();

  v1::CustomerState state;
  ASSERT_TRUE(GetState(*stub, "c1", &state).ok());
  EXPECT_EQ(state.events_applied(), 25u);
  ASSERT_EQ(state.recent_touchpoints_size(), 20);
  for (int k = 0; k < 20; ++k) {
    const int i = 25 - k;  // latest applied first
    SCOPED_TRACE(i);
    const v1::Touchpoint& got = state.recent_touchpoints(k);
    EXPECT_EQ(got.event_id(), "e" + std::to_string(i));
    EXPECT_EQ(got.customer_id(), "c1");
    EXPECT_EQ(got.occurred_at().seconds(), testing::kTestEpochSeconds + i * testing::kDaySeconds);
    EXPECT_EQ(got.channel(), v1::WEB);
    EXPECT_EQ(got.type(), i % 3 == 0 ? v1::SURVEY : v1::PURCHASE);
    EXPECT_EQ(got.amount(), i % 3 == 0 ? 0 : i);
    EXPECT_EQ(got.has_satisfaction(), i % 3 == 0);
    if (i % 3 == 0) {
      EXPECT_EQ(got.satisfaction(), i % 11);
    }
    EXPECT_TRUE(got.attributes().empty());
  }
  v1::CustomerState other;
  ASSERT_TRUE(GetState(*stub, "c10", &other).ok());
  ASSERT_EQ(other.recent_touchpoints_size(), 2);
  EXPECT_EQ(other.recent_touchpoints(0).event_id(), "x2");
  EXPECT_EQ(other.recent_touchpoints(1).event_id(), "x1");

  v1::EraseCustomerRequest erase;
  erase.set_customer_id("c1");
  v1::EraseCustomerResponse erased;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 30s);
  context.AddMetadata("authorization", std::string("Bearer ") + kToken);
  ASSERT_TRUE(stub->EraseCustomer(&context, erase, &erased).ok());
  EXPECT_TRUE(erased.erased());
  EXPECT_EQ(GetState(*stub, "c1", &state).error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(GetState(*stub, "c10", &other).ok());
  EXPECT_EQ(other.recent_touchpoints_size(), 2);
  ASSERT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();

  // Nothing of theirs is left on disk; "c10"'s are.
  EXPECT_EQ(KeysStartingWith(dir.path() / "data", TouchpointPrefix(0, CustomerId("c1"))), 0);
  EXPECT_EQ(KeysStartingWith(dir.path() / "data", TouchpointPrefix(0, CustomerId("c10"))), 2);
}

}  // namespace
}  // namespace crm
