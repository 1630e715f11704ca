// The scoring service over the in-memory store, its methods called directly
// (no server): what a ranking does when its work reaches a bound, and
// which peers a lookup is forwarded to.
#include "services/grpc/scoring_service.h"

#include <grpcpp/server_context.h>
#include <gtest/gtest.h>

#include <deque>
#include <string>

#include "core/changelog.h"
#include "core/clock.h"
#include "core/cluster.h"
#include "core/customer_state.h"
#include "core/partition_ownership.h"
#include "tests/core/test_touchpoints.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/memory_state_store.h"

namespace crm {
namespace {

using testing::Day;

// `customers` buyers (a purchase at day 0), each indexed at risk with a churn
// of its own, on partition 0.
void Fill(testing::MemoryStateStore& store, int customers) {
  std::deque<CustomerId> ids;
  std::deque<CustomerState> states;
  StateBatch batch;
  for (int c = 0; c < customers; ++c) {
    ids.emplace_back("c" + std::to_string(c));
    CustomerState& state = states.emplace_back();
    state.partition = 0;
    Touchpoint purchase = testing::MakeTouchpoint(TouchpointType::kPurchase, "p", 0);
    purchase.customer_id = ids.back();
    ApplyTouchpoint(purchase, StateLimits{}, state);
    batch.customers.emplace_back(&ids.back(), &state);
    batch.index.push_back(
        {.partition = 0, .customer = &ids.back(), .risk_to = 0.5 + 0.4 * c / customers});
  }
  ASSERT_TRUE(store.Commit("crm.touchpoints", batch).ok());
}

// The service's answer, called directly (a context of no call: no deadline,
// no credentials, never cancelled).
grpc::Status Rank(ScoringServiceImpl& service, std::uint32_t top_n,
                  v1::ListAtRiskCustomersResponse* response) {
  v1::ListAtRiskCustomersRequest request;
  request.set_top_n(top_n);
  grpc::ServerContext context;
  return service.ListAtRiskCustomers(&context, &request, response);
}

TEST(ScoringServiceTest, ARankingThatReachesItsCandidateBoundIsFlaggedPartial) {
  testing::MemoryStateStore store;
  Fill(store, 50);
  Board<Scorer> scorers(std::make_shared<const Scorer>(Model{}));
  PopulationBoard population;
  testing::FakeClock clock(Day(400));
  ScoringServiceOptions bounded;
  bounded.rank_max_candidates = 10;
  ScoringServiceImpl small(&store, &scorers, &population, &clock, bounded);
  v1::ListAtRiskCustomersResponse response;
  ASSERT_TRUE(Rank(small, 20, &response).ok());
  EXPECT_TRUE(response.partial());
  EXPECT_NE(response.partial_reason().find("10 candidates"), std::string::npos)
      << response.partial_reason();
  EXPECT_EQ(response.customers_size(), 10);  // the best of those scored

  // Within the bound: the whole answer, not flagged.
  ScoringServiceImpl roomy(&store, &scorers, &population, &clock);
  response.Clear();
  ASSERT_TRUE(Rank(roomy, 20, &response).ok());
  EXPECT_FALSE(response.partial());
  EXPECT_TRUE(response.partial_reason().empty());
  EXPECT_EQ(response.customers_size(), 20);
}

// A cluster record whose instance name no certificate can hold (a NUL that
// would cut it short in the TLS layer, a space, a line break, a non-ASCII or
// wildcard character): with peers verified by TLS, a lookup its partition
// would send there is not forwarded (UNAVAILABLE, saying why), and nothing
// crashes.
TEST(ScoringServiceTest, AnOwnerWhoseNameNoCertificateCanHoldIsNeverForwardedTo) {
  testing::MemoryStateStore store;
  Board<Scorer> scorers(std::make_shared<const Scorer>(Model{}));
  PopulationBoard population;
  testing::FakeClock clock(Day(400));
  PartitionOwnership restoring;
  restoring.SetOwned({0}, 2);
  ClusterView cluster("a", std::chrono::hours(1));
  const WallClock wall_clock;  // the cluster's records are stamped in real time
  const Timestamp now = wall_clock.Now();
  cluster.Update({.instance = "a",
                  .address = "127.0.0.1:1",
                  .partitions = {0},
                  .partition_count = 2,
                  .published_at = now},
                 now);
  ScoringServiceOptions options;
  options.ownership = &restoring;
  options.cluster = &cluster;
  options.partition_of = [](std::string_view, std::int32_t) { return 1; };
  options.peers_verified = true;
  options.wall_clock = &wall_clock;
  ScoringServiceImpl service(&store, &scorers, &population, &clock, options);
  for (const std::string& name :
       {std::string("b\0evil", 6), std::string("two words"), std::string("b\nx"),
        std::string("caf\xC3\xA9"), std::string("*.b"), std::string(300, 'b')}) {
    cluster.Update({.instance = name,
                    .address = "127.0.0.1:1",
                    .partitions = {1},
                    .partition_count = 2,
                    .published_at = now},
                   now);
    v1::GetCustomerStateRequest request;
    request.set_customer_id("x");
    v1::CustomerState state;
    grpc::ServerContext context;
    const grpc::Status status = service.GetCustomerState(&context, &request, &state);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
    EXPECT_NE(status.error_message().find("cannot be a certificate's name"), std::string::npos)
        << status.error_message();
    cluster.Remove(name);
  }
}

}  // namespace
}  // namespace crm
