// ListOfferTargets on the real stack (the mock Kafka cluster, crm-scored on
// RocksDB with the demo model): customers fed as touchpoints, the targets of
// gRPC and HTTP both equal to a brute-force ranking of every customer's
// GetCustomerScores and GetCustomerState, filters included.

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "crm/v1/scoring.grpc.pb.h"
#include "tests/integration/http_client.h"
#include "tests/integration/service_process.h"
#include "tests/integration/test_cluster.h"
#include "tests/integration/touchpoint_producer.h"

namespace crm {
namespace {

using namespace std::chrono_literals;

constexpr char kProduct[] = "STREAMING";
constexpr int kCustomers = 30;
constexpr int kLastDay = 300;  // everyone's last touchpoint: their latest look is "now"

// A customer's history: purchases of a few products, interest in kProduct,
// e-mail consent for some, and a contact on kLastDay. Some never buy.
std::vector<v1::Touchpoint> History(int i, std::mt19937& random, int* events) {
  static const std::vector<std::string> kBought = {"SMARTPHONE", kProduct, "INSURANCE",
                                                   "MOBILE-PLAN"};
  const std::string id = "c" + std::to_string(i);
  std::vector<v1::Touchpoint> history;
  const int purchases = i % 5 == 0 ? 0 : static_cast<int>(random() % 5);
  for (int k = 0; k < purchases; ++k) {
    v1::Touchpoint tp = v1::Touchpoint(
        testing::DayTouchpoint(id, id + "p" + std::to_string(k), 10 + 30 * k + i % 9, v1::PURCHASE,
                               15.0 + static_cast<double>(random() % 400)));
    tp.set_product(kBought[random() % kBought.size()]);
    history.push_back(tp);
  }
  const int interest = static_cast<int>(random() % 4);
  for (int k = 0; k < interest; ++k) {
    v1::Touchpoint tp =
        testing::DayTouchpoint(id, id + "i" + std::to_string(k), 200 + 20 * k, v1::CONTACT);
    tp.set_product(kProduct);
    history.push_back(tp);
  }
  if (random() % 2 == 0) {
    v1::Touchpoint tp = testing::DayTouchpoint(id, id + "consent", 250, v1::CONSENT);
    tp.set_channel(v1::EMAIL);
    tp.set_consent_granted(true);
    history.push_back(tp);
  }
  history.push_back(testing::DayTouchpoint(id, id + "last", kLastDay, v1::CONTACT));
  *events = static_cast<int>(history.size());
  return history;
}

struct Known {
  v1::CustomerScores scores;
  bool owner = false;
};

// The targets a request should get, from every customer's scores and state.
std::vector<std::pair<std::string, double>> BruteForce(const std::vector<Known>& customers,
                                                       const v1::ListOfferTargetsRequest& request) {
  std::vector<std::pair<std::string, double>> kept;
  for (const Known& known : customers) {
    const v1::CustomerScores& s = known.scores;
    if (known.owner && !request.include_owners()) continue;
    if (!request.segment().empty() && s.segment() != request.segment()) continue;
    if (request.channel() != v1::CHANNEL_UNSPECIFIED &&
        std::find(s.contactable_channels().begin(), s.contactable_channels().end(),
                  request.channel()) == s.contactable_channels().end()) {
      continue;
    }
    kept.emplace_back(s.customer_id(), s.appetence().at(request.product()));
  }
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (kept.size() > request.top_n()) kept.resize(request.top_n());
  return kept;
}

std::vector<std::pair<std::string, double>> Targets(const v1::ListOfferTargetsResponse& response) {
  std::vector<std::pair<std::string, double>> targets;
  for (const v1::OfferTarget& t : response.targets()) {
    targets.emplace_back(t.customer_id(), t.probability());
  }
  return targets;
}

// Every customer's touchpoints, in time order (as a live feed brings
// them); `events` the count of each customer's.
std::vector<v1::Touchpoint> Feed(std::mt19937& random, std::map<std::string, int>* events) {
  std::vector<v1::Touchpoint> touchpoints;
  for (int i = 0; i < kCustomers; ++i) {
    int n = 0;
    for (v1::Touchpoint& tp : History(i, random, &n)) touchpoints.push_back(std::move(tp));
    (*events)["c" + std::to_string(i)] = n;
  }
  std::stable_sort(touchpoints.begin(), touchpoints.end(), [](const auto& a, const auto& b) {
    return a.occurred_at().seconds() < b.occurred_at().seconds();
  });
  return touchpoints;
}

// Each customer's scores and whether they own kProduct, as `stub` answers.
std::vector<Known> KnownCustomers(v1::ScoringService::Stub& stub,
                                  const std::map<std::string, int>& events) {
  std::vector<Known> customers;
  for (const auto& [id, n] : events) {
    Known& known = customers.emplace_back();
    grpc::ClientContext scores_context;
    v1::GetCustomerScoresRequest get;
    get.set_customer_id(id);
    EXPECT_TRUE(stub.GetCustomerScores(&scores_context, get, &known.scores).ok()) << id;
    grpc::ClientContext state_context;
    v1::GetCustomerStateRequest get_state;
    get_state.set_customer_id(id);
    v1::CustomerState state;
    EXPECT_TRUE(stub.GetCustomerState(&state_context, get_state, &state).ok()) << id;
    for (const v1::ProductActivity& p : state.products()) {
      if (p.product() == kProduct) known.owner = p.purchases() > p.returns() + p.cancellations();
    }
  }
  return customers;
}

TEST(OffersTest, TargetsOverGrpcAndHttpEqualABruteForceRanking) {
  auto kafka = testing::TestKafka::Start(ContractTopics(2));
  ASSERT_TRUE(kafka.ok()) << kafka.status();
  const unsigned seed = std::random_device()();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  std::map<std::string, int> events;
  testing::ProduceTouchpoints((*kafka)->bootstrap(), Feed(random, &events));
  testing::TempDir dir;
  testing::RunningService service = testing::StartService(
      (*kafka)->bootstrap(), dir.path() / "data", dir.path() / "service.log",
      {"--model", std::string(CRM_SOURCE_DIR) + "/models/demo.json"}, "offers-test");
  const std::string& http = service.http;
  auto stub = v1::ScoringService::NewStub(
      grpc::CreateChannel(service.grpc, grpc::InsecureChannelCredentials()));
  for (const auto& [id, n] : events) {
    ASSERT_TRUE(testing::WaitApplied(*stub, id, n)) << id;
  }

  const std::vector<Known> customers = KnownCustomers(*stub, events);

  const auto check = [&](const v1::ListOfferTargetsRequest& request, const std::string& query) {
    SCOPED_TRACE(query);
    grpc::ClientContext context;
    v1::ListOfferTargetsResponse response;
    const grpc::Status status = stub->ListOfferTargets(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_FALSE(response.partial()) << response.partial_reason();
    EXPECT_EQ(Targets(response), BruteForce(customers, request));
    const testing::HttpAnswer answer =
        testing::HttpCall(http, "GET", std::string("/v1/offers/") + kProduct + "/targets?" + query);
    ASSERT_EQ(answer.status, 200) << answer.body;
    v1::ListOfferTargetsResponse from_http;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(answer.body, &from_http).ok());
    EXPECT_EQ(Targets(from_http), Targets(response));
  };
  v1::ListOfferTargetsRequest request;
  request.set_product(kProduct);
  request.set_top_n(5);
  check(request, "top_n=5");
  request.set_top_n(1000);
  check(request, "top_n=1000");
  // A ranking worth the name: most customers are not owners, a few are.
  const std::size_t everyone = BruteForce(customers, request).size();
  EXPECT_GT(everyone, 10u);
  request.set_include_owners(true);
  EXPECT_GT(BruteForce(customers, request).size(), everyone);
  request.set_channel(v1::EMAIL);
  EXPECT_LT(BruteForce(customers, request).size(), static_cast<std::size_t>(kCustomers));
  request.set_channel(v1::CHANNEL_UNSPECIFIED);
  request.set_include_owners(true);
  check(request, "top_n=1000&include_owners=true");
  request.set_include_owners(false);
  request.set_channel(v1::EMAIL);
  check(request, "top_n=1000&channel=EMAIL");
  request.set_channel(v1::CHANNEL_UNSPECIFIED);
  for (const char* segment : {"A", "B", "C"}) {
    request.set_segment(segment);
    check(request, std::string("top_n=1000&segment=") + segment);
  }

  // Refusals, as JSON errors.
  const auto code = [&](const std::string& target) {
    return testing::HttpCall(http, "GET", target).status;
  };
  EXPECT_EQ(code("/v1/offers/NOPE/targets?top_n=5"), 404);
  EXPECT_EQ(code(std::string("/v1/offers/") + kProduct + "/targets"), 400);  // top_n 0
  EXPECT_EQ(code(std::string("/v1/offers/") + kProduct + "/targets?top_n=1001"), 400);
  EXPECT_EQ(code(std::string("/v1/offers/") + kProduct + "/targets?top_n=5&channel=PIGEON"), 400);
  EXPECT_EQ(code(std::string("/v1/offers/") + kProduct + "/targets?top_n=5&segment=Z"), 400);
  EXPECT_EQ(code(std::string("/v1/offers/") + kProduct + "/targets?top_n=5&colour=red"), 400);
}

// Two instances share four partitions: each one's answer merges both
// rankings, every partition ranked once, and equals the brute force.
TEST(OffersTest, EachInstanceOfAClusterMergesEveryOwnersTargets) {
  constexpr int kPartitions = 4;
  auto kafka = testing::TestKafka::Start(ContractTopics(kPartitions));
  ASSERT_TRUE(kafka.ok()) << kafka.status();
  const unsigned seed = std::random_device()();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  std::map<std::string, int> events;
  testing::ProduceTouchpoints((*kafka)->bootstrap(), Feed(random, &events));
  testing::TempDir dir;
  std::vector<testing::RunningService> services;
  std::vector<std::unique_ptr<v1::ScoringService::Stub>> stubs;
  for (const char* name : {"a", "b"}) {
    services.push_back(testing::StartService(
        (*kafka)->bootstrap(), dir.path() / name, dir.path() / (std::string(name) + ".log"),
        {"--model", std::string(CRM_SOURCE_DIR) + "/models/demo.json"}, "offers-cluster"));
    stubs.push_back(v1::ScoringService::NewStub(
        grpc::CreateChannel(services.back().grpc, grpc::InsecureChannelCredentials())));
  }
  v1::ListOfferTargetsRequest request;
  request.set_product(kProduct);
  request.set_top_n(1000);
  const auto ask = [&](v1::ScoringService::Stub& stub, v1::ListOfferTargetsResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    *response = v1::ListOfferTargetsResponse();
    return stub.ListOfferTargets(&context, request, response);
  };
  // Settled: both instances merged, every customer applied.
  const auto deadline = std::chrono::steady_clock::now() + 90s;
  for (bool settled = false; !settled && std::chrono::steady_clock::now() < deadline;) {
    settled = true;
    for (auto& stub : stubs) {
      v1::ListOfferTargetsResponse response;
      settled = settled && ask(*stub, &response).ok() && response.instances_size() == 2 &&
                response.partitions_size() == kPartitions;
    }
    if (!settled) std::this_thread::sleep_for(200ms);
  }
  for (const auto& [id, n] : events) {
    ASSERT_TRUE(testing::WaitApplied(*stubs[0], id, n)) << id;
  }
  const std::vector<Known> customers = KnownCustomers(*stubs[0], events);
  for (auto& stub : stubs) {
    for (bool owners : {false, true}) {
      SCOPED_TRACE(owners ? "owners in" : "owners out");
      request.set_include_owners(owners);
      v1::ListOfferTargetsResponse response;
      const grpc::Status status = ask(*stub, &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      EXPECT_EQ(response.instances_size(), 2);
      EXPECT_EQ(response.partitions_size(), kPartitions);
      EXPECT_FALSE(response.partial()) << response.partial_reason();
      EXPECT_EQ(Targets(response), BruteForce(customers, request));
    }
  }
}

}  // namespace
}  // namespace crm
