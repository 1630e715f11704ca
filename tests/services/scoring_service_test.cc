// The scoring service over the in-memory store, its methods called directly
// (no server): what a ranking does when its work reaches a bound.
#include "services/grpc/scoring_service.h"

#include <grpcpp/server_context.h>
#include <gtest/gtest.h>

#include <deque>
#include <string>

#include "core/customer_state.h"
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

}  // namespace
}  // namespace crm
