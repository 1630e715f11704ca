// ListOfferTargets over the in-memory store, the service called directly
// (no server): the ranking by appetence, its filters (owners, segment,
// consented channel), its bound, and its refusals.
#include <grpcpp/server_context.h>
#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/customer_state.h"
#include "services/grpc/scoring_service.h"
#include "tests/core/test_touchpoints.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/memory_state_store.h"

namespace crm {
namespace {

using testing::Day;

// Appetence for "P" rises with interest in it; owners are less keen.
Model OfferModel() {
  Model model;
  model.appetence.push_back(
      {.product = "P",
       .logistic = {.intercept = -2, .weights = {{"product_interest", 2}, {"owns_product", -1}}}});
  return model;
}

// Customers of partition 0, each indexed at their appetence as of `now_`.
class OfferTargetsTest : public ::testing::Test {
 protected:
  struct Customer {
    std::string id;
    int interest = 0;                // contacts about P
    double spent = 0;                // on another product, day 5
    bool owner = false;              // bought P, day 6
    std::optional<Channel> consent;  // granted, day 7
  };

  void Add(const Customer& c) {
    ids_.emplace_back(c.id);
    CustomerState& state = states_.emplace_back();
    state.partition = 0;
    int n = 0;
    const auto apply = [&](Touchpoint tp) {
      tp.event_id = c.id + std::to_string(n++);
      tp.customer_id = ids_.back();
      ApplyTouchpoint(tp, StateLimits{}, state);
    };
    for (int i = 0; i < c.interest; ++i) {
      Touchpoint tp = testing::MakeTouchpoint(TouchpointType::kContact, "", 1 + i);
      tp.product = "P";
      apply(tp);
    }
    if (c.spent > 0) {
      Touchpoint tp = testing::MakeTouchpoint(TouchpointType::kPurchase, "", 5);
      tp.product = "X";
      tp.amount = c.spent;
      apply(tp);
    }
    if (c.owner) {
      Touchpoint tp = testing::MakeTouchpoint(TouchpointType::kPurchase, "", 6);
      tp.product = "P";
      apply(tp);
    }
    if (c.consent) apply(testing::MakeTouchpoint(TouchpointType::kConsent, "", 7, *c.consent));
    population_.Replace(0, std::nullopt, PopulationEntryOf(state), nullptr);
    StateBatch batch;
    batch.customers.emplace_back(&ids_.back(), &state);
    batch.index.push_back({.partition = 0,
                           .customer = &ids_.back(),
                           .appetence_to = scorer_->Appetence(state, now_)});
    ASSERT_TRUE(store_.Commit("crm.touchpoints", batch).ok());
  }

  void AddAll() {
    Add({.id = "keen", .interest = 4, .spent = 500, .consent = Channel::kEmail});
    Add({.id = "owner", .interest = 4, .spent = 20, .owner = true});
    Add({.id = "mild", .interest = 1, .spent = 10, .consent = Channel::kSms});
    Add({.id = "cold"});
  }

  // The answer's customer ids, in order; the status as `want`.
  std::vector<std::string> Ranked(const v1::ListOfferTargetsRequest& request,
                                  grpc::StatusCode want = grpc::StatusCode::OK,
                                  ScoringServiceOptions options = {}) {
    Board<Scorer> scorers(scorer_);
    PopulationBoard population(population_.View());
    testing::FakeClock clock(now_);
    ScoringServiceImpl service(&store_, &scorers, &population, &clock, options);
    grpc::ServerContext context;
    last_ = v1::ListOfferTargetsResponse();
    const grpc::Status status = service.ListOfferTargets(&context, &request, &last_);
    EXPECT_EQ(status.error_code(), want) << status.error_message();
    std::vector<std::string> ids;
    for (const v1::OfferTarget& t : last_.targets()) ids.push_back(t.customer_id());
    return ids;
  }

  static v1::ListOfferTargetsRequest Request(std::uint32_t top_n = 10) {
    v1::ListOfferTargetsRequest request;
    request.set_product("P");
    request.set_top_n(top_n);
    return request;
  }

  const std::shared_ptr<const Scorer> scorer_ = std::make_shared<const Scorer>(OfferModel());
  const Timestamp now_ = Day(20);
  Population population_;
  testing::MemoryStateStore store_;
  std::deque<CustomerId> ids_;
  std::deque<CustomerState> states_;
  v1::ListOfferTargetsResponse last_;
};

TEST_F(OfferTargetsTest, RanksByAppetenceNowAndLeavesOwnersOutUnlessAsked) {
  AddAll();
  EXPECT_EQ(Ranked(Request()), (std::vector<std::string>{"keen", "mild", "cold"}));
  EXPECT_FALSE(last_.partial());
  // Each target as its scores say, now.
  const Scores keen = scorer_->Score(CustomerId("keen"), states_[0], now_);
  const v1::OfferTarget& first = last_.targets(0);
  EXPECT_EQ(first.probability(), keen.appetence.at("P"));
  EXPECT_EQ(first.clv(), keen.clv);
  EXPECT_EQ(first.value_at_risk(), keen.value_at_risk);
  ASSERT_EQ(first.contactable_channels_size(), 1);
  EXPECT_EQ(first.contactable_channels(0), v1::EMAIL);
  EXPECT_FALSE(first.reasons().empty());

  v1::ListOfferTargetsRequest owners = Request();
  owners.set_include_owners(true);
  const std::vector<std::string> all = Ranked(owners);
  EXPECT_EQ(all.size(), 4u);
  EXPECT_NE(std::find(all.begin(), all.end(), "owner"), all.end());
  EXPECT_EQ(Ranked(Request(2)), (std::vector<std::string>{"keen", "mild"}));
}

TEST_F(OfferTargetsTest, FiltersBySegmentAndConsentedChannel) {
  AddAll();
  v1::ListOfferTargetsRequest request = Request();
  request.set_channel(v1::EMAIL);
  EXPECT_EQ(Ranked(request), std::vector<std::string>{"keen"});
  request.set_channel(v1::SMS);
  EXPECT_EQ(Ranked(request), std::vector<std::string>{"mild"});
  request.set_channel(v1::PHONE);
  EXPECT_TRUE(Ranked(request).empty());

  request = Request();
  const std::shared_ptr<const PopulationView> view = population_.View();
  const Segment keen = view->AbcSegment(500), mild = view->AbcSegment(10);
  ASSERT_NE(keen, mild);
  request.set_segment(std::string(SegmentName(keen)));
  EXPECT_EQ(Ranked(request), std::vector<std::string>{"keen"});
  request.set_segment(std::string(SegmentName(mild)));
  const std::vector<std::string> ranked = Ranked(request);
  EXPECT_NE(std::find(ranked.begin(), ranked.end(), "mild"), ranked.end());
  EXPECT_EQ(std::find(ranked.begin(), ranked.end(), "keen"), ranked.end());
}

TEST_F(OfferTargetsTest, ABoundReachedIsFlaggedPartial) {
  AddAll();
  ScoringServiceOptions bounded;
  bounded.rank_max_candidates = 1;
  EXPECT_EQ(Ranked(Request(), grpc::StatusCode::OK, bounded), std::vector<std::string>{"keen"});
  EXPECT_TRUE(last_.partial());
  EXPECT_NE(last_.partial_reason().find("1 candidates"), std::string::npos)
      << last_.partial_reason();
}

TEST_F(OfferTargetsTest, RefusesAProductTheModelDoesNotScoreAndBadRequests) {
  AddAll();
  v1::ListOfferTargetsRequest request = Request();
  request.set_product("NOPE");
  Ranked(request, grpc::StatusCode::NOT_FOUND);
  Ranked(Request(0), grpc::StatusCode::INVALID_ARGUMENT);
  request = Request();
  request.set_segment("Z");
  Ranked(request, grpc::StatusCode::INVALID_ARGUMENT);
  request = Request();
  request.set_channel(static_cast<v1::Channel>(99));
  Ranked(request, grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace crm
