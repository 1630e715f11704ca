// The scoring service over the in-memory store, its methods called directly
// (no server): what a ranking does when its work reaches a bound, and
// which peers a lookup is forwarded to.
#include "services/grpc/scoring_service.h"

#include <grpcpp/server_context.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <string>
#include <utility>
#include <vector>

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

// Customers of partition 0, each a history of purchases (day, amount) and
// indexed at their churn as of `now` under `scorer`.
class RankingTest : public ::testing::Test {
 protected:
  void Add(const std::string& id, const std::vector<std::pair<double, double>>& purchases,
           bool prospect = false) {
    ids_.emplace_back(id);
    CustomerState& state = states_.emplace_back();
    state.partition = 0;
    int n = 0;
    for (const auto& [day, amount] : purchases) {
      Touchpoint tp =
          testing::MakeTouchpoint(TouchpointType::kPurchase, "p" + std::to_string(n++), day);
      tp.customer_id = ids_.back();
      tp.amount = amount;
      ApplyTouchpoint(tp, StateLimits{}, state);
    }
    if (prospect) {
      Touchpoint tp = testing::MakeTouchpoint(TouchpointType::kContact, "x", 1);
      tp.customer_id = ids_.back();
      ApplyTouchpoint(tp, StateLimits{}, state);
    }
    StateBatch batch;
    batch.customers.emplace_back(&ids_.back(), &state);
    // A prospect is never indexed by the ingest; indexed here all the same,
    // the ranking must still leave them out.
    const double churn = prospect ? 0.99 : scorer_.Churn(state, now_);
    batch.index.push_back({.partition = 0, .customer = &ids_.back(), .risk_to = churn});
    ASSERT_TRUE(store_.Commit("crm.touchpoints", batch).ok());
  }

  // Monthly buyers silent for four months: leaving; "valuable" spends 40
  // times more than "cheap".
  void AddLeavingPair() {
    std::vector<std::pair<double, double>> big, small;
    for (int m = 0; m < 9; ++m) {
      big.emplace_back(30.0 * m + 10, 400);
      small.emplace_back(30.0 * m + 10 + 0.5, 10);
    }
    Add("valuable", big);
    Add("cheap", small);
  }

  std::vector<std::string> Ranked(const v1::ListAtRiskCustomersRequest& request,
                                  grpc::StatusCode want = grpc::StatusCode::OK) {
    Board<Scorer> scorers(std::make_shared<const Scorer>(scorer_.model()));
    PopulationBoard population;
    testing::FakeClock clock(now_);
    ScoringServiceImpl service(&store_, &scorers, &population, &clock);
    v1::ListAtRiskCustomersResponse response;
    grpc::ServerContext context;
    const grpc::Status status = service.ListAtRiskCustomers(&context, &request, &response);
    EXPECT_EQ(status.error_code(), want) << status.error_message();
    std::vector<std::string> ids;
    for (const v1::CustomerScores& s : response.customers()) ids.push_back(s.customer_id());
    return ids;
  }

  const Scorer scorer_{Model{}};
  const Timestamp now_ = Day(400);
  testing::MemoryStateStore store_;
  std::deque<CustomerId> ids_;
  std::deque<CustomerState> states_;
};

TEST_F(RankingTest, ByValueAtRiskTheValuableLeavingComeFirstAndTheLostOnlyOnRequest) {
  AddLeavingPair();
  Add("lost", {{0, 30}, {21, 30}, {42, 30}});  // then silent for 51 weeks
  Add("prospect", {}, /*prospect=*/true);
  const Scores valuable = scorer_.Score(CustomerId("valuable"), states_[0], now_);
  const Scores cheap = scorer_.Score(CustomerId("cheap"), states_[1], now_);
  const Scores lost = scorer_.Score(CustomerId("lost"), states_[2], now_);
  ASSERT_GE(*valuable.churn, 0.7);  // at risk, as the alert policy's default raise says
  ASSERT_GE(*cheap.churn, 0.7);
  ASSERT_EQ(lost.lifecycle_stage, LifecycleStage::kLost);
  ASSERT_NE(valuable.lifecycle_stage, LifecycleStage::kLost);
  ASSERT_GT(valuable.value_at_risk, cheap.value_at_risk);

  v1::ListAtRiskCustomersRequest request;
  request.set_order_by(v1::AT_RISK_ORDER_VALUE_AT_RISK);
  EXPECT_EQ(Ranked(request), (std::vector<std::string>{"valuable", "cheap"}));
  request.set_include_lost(true);
  const std::vector<std::string> with_lost = Ranked(request);
  EXPECT_EQ(with_lost.size(), 3u);
  EXPECT_NE(std::find(with_lost.begin(), with_lost.end(), "lost"), with_lost.end());
  // By churn (the default), still no prospect and no lost customer.
  v1::ListAtRiskCustomersRequest by_churn;
  const std::vector<std::string> churned = Ranked(by_churn);
  EXPECT_EQ(churned.size(), 2u);
  EXPECT_EQ(std::find(churned.begin(), churned.end(), "prospect"), churned.end());
  EXPECT_EQ(std::find(churned.begin(), churned.end(), "lost"), churned.end());
  by_churn.set_order_by(v1::AT_RISK_ORDER_CHURN);
  EXPECT_EQ(Ranked(by_churn), churned);
}

TEST_F(RankingTest, FiltersByQuadrantAndActionAndRefusesUnknownValues) {
  AddLeavingPair();
  const Scores valuable = scorer_.Score(CustomerId("valuable"), states_[0], now_);
  const Scores cheap = scorer_.Score(CustomerId("cheap"), states_[1], now_);
  ASSERT_NE(valuable.quadrant, cheap.quadrant);
  v1::ListAtRiskCustomersRequest request;
  request.set_value_quadrant(std::string(ValueQuadrantName(valuable.quadrant)));
  EXPECT_EQ(Ranked(request), std::vector<std::string>{"valuable"});
  request.set_value_quadrant(std::string(ValueQuadrantName(cheap.quadrant)));
  EXPECT_EQ(Ranked(request), std::vector<std::string>{"cheap"});
  request.clear_value_quadrant();
  request.set_action("WIN_BACK");
  EXPECT_EQ(Ranked(request), std::vector<std::string>{"valuable"});
  request.set_action("REACTIVATE");
  EXPECT_TRUE(Ranked(request).empty());
  request.set_action("SELL_EVERYTHING");
  Ranked(request, grpc::StatusCode::INVALID_ARGUMENT);
  request.clear_action();
  request.set_value_quadrant("desirable");
  Ranked(request, grpc::StatusCode::INVALID_ARGUMENT);
  request.clear_value_quadrant();
  request.set_order_by(static_cast<v1::AtRiskOrder>(7));
  Ranked(request, grpc::StatusCode::INVALID_ARGUMENT);
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

// Outcomes read from the outcome index as committed: the alerts of a
// period summed per group and per week, the uplift with its interval.
TEST(ScoringServiceTest, OutcomesSumTheFollowUpsOfThePeriodPerGroupAndWeek) {
  testing::MemoryStateStore store;
  std::deque<CustomerId> ids;
  std::deque<std::vector<AlertFollowUp>> follow_ups;
  StateBatch batch;
  // 40 treated alerts (30 recovered, 10 each), 20 control (5 recovered, 10 each):
  // a week apart in two halves.
  for (int i = 0; i < 60; ++i) {
    const bool control = i >= 40;
    const bool recovered = control ? i < 45 : i < 30;
    AlertFollowUp follow_up{
        .number = 1,
        .raised_at = Day(i % 2 == 0 ? 4 : 11),  // two Mondays (day 0: a Thursday)
        .control = control,
        .action = RecommendedAction::kWinBack,
        .segment = i % 3 == 0 ? Segment::kA : Segment::kB,
        .contacts = control ? 0U : 1U};
    if (recovered) {
      follow_up.recovered_at = follow_up.raised_at + std::chrono::days(3);
      follow_up.revenue = 10;
    }
    ids.emplace_back("o" + std::to_string(i));
    follow_ups.push_back({follow_up});
    batch.index.push_back(
        {.partition = i % 2, .customer = &ids.back(), .follow_ups_to = &follow_ups.back()});
  }
  ASSERT_TRUE(store.Commit("crm.touchpoints", batch).ok());
  Board<Scorer> scorers(std::make_shared<const Scorer>(Model{}));
  PopulationBoard population;
  testing::FakeClock clock(Day(400));
  ScoringServiceImpl service(&store, &scorers, &population, &clock);
  const auto outcomes = [&](const v1::GetAlertOutcomesRequest& request) {
    grpc::ServerContext context;
    v1::AlertOutcomes response;
    EXPECT_TRUE(service.GetAlertOutcomes(&context, &request, &response).ok());
    return response;
  };

  const v1::AlertOutcomes all = outcomes({});
  EXPECT_EQ(all.treated().alerts(), 40u);
  EXPECT_EQ(all.treated().contacted(), 40u);
  EXPECT_EQ(all.treated().recovered(), 30u);
  EXPECT_DOUBLE_EQ(all.treated().revenue(), 300);
  EXPECT_EQ(all.control().alerts(), 20u);
  EXPECT_EQ(all.control().contacted(), 0u);
  EXPECT_EQ(all.control().recovered(), 5u);
  EXPECT_DOUBLE_EQ(all.control().revenue(), 50);
  ASSERT_TRUE(all.uplift_known());
  EXPECT_DOUBLE_EQ(all.uplift(), 0.75 - 0.25);
  EXPECT_LT(all.uplift_low(), 0.5);
  EXPECT_GT(all.uplift_high(), 0.5);
  EXPECT_DOUBLE_EQ(all.incremental_revenue(), 300 - 40 * 2.5);
  EXPECT_EQ(all.outcome_window_days(), 30u);
  ASSERT_EQ(all.weeks_size(), 2);
  EXPECT_EQ(all.weeks(0).week().seconds(), ToMicros(Day(4)) / 1'000'000);
  EXPECT_EQ(all.weeks(0).treated().alerts() + all.weeks(1).treated().alerts(), 40u);
  EXPECT_TRUE(all.weeks(1).uplift_known());

  v1::GetAlertOutcomesRequest second_week;
  second_week.mutable_since()->set_seconds(ToMicros(Day(5)) / 1'000'000);
  const v1::AlertOutcomes later = outcomes(second_week);
  EXPECT_EQ(later.treated().alerts(), 20u);
  EXPECT_EQ(later.control().alerts(), 10u);
  ASSERT_EQ(later.weeks_size(), 1);

  v1::GetAlertOutcomesRequest segment_a;
  segment_a.set_segment("A");
  EXPECT_EQ(outcomes(segment_a).treated().alerts() + outcomes(segment_a).control().alerts(), 20u);
  v1::GetAlertOutcomesRequest onboarding;
  onboarding.set_action("ONBOARD");
  const v1::AlertOutcomes none = outcomes(onboarding);
  EXPECT_EQ(none.treated().alerts(), 0u);
  EXPECT_FALSE(none.uplift_known());  // no group to compare

  v1::GetAlertOutcomesRequest bad;
  bad.set_segment("Q");
  grpc::ServerContext context;
  v1::AlertOutcomes refused;
  EXPECT_EQ(service.GetAlertOutcomes(&context, &bad, &refused).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace crm
