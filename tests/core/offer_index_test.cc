#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/core/ingest_fixture.h"

// The offer index (AlertState::indexed_appetence, StateStore::LikeliestBuyers)
// as the looks keep it, on the memory store: rank order, one entry per
// customer and product, gone with an erasure or the partition.

namespace crm {
namespace ingest_test {
namespace {

// Appetence for "P" rises with interest in it (contacts about it); "Q" is
// flat. Whoever owns "P" is less likely to buy it again.
Model OfferModel() {
  Model model = BuiltInBgNbdModel();
  model.appetence.push_back(
      {.product = "P",
       .logistic = {.intercept = -2, .weights = {{"product_interest", 2}, {"owns_product", -1}}}});
  model.appetence.push_back({.product = "Q", .logistic = {.intercept = -1}});
  return model;
}

class OfferIndexTest : public IngestAlertsTest {
 protected:
  OfferIndexTest() { scorers_.Publish(std::make_shared<const Scorer>(OfferModel())); }

  // `customer` contacted about `product` `times` times from `day` on.
  static std::vector<InputRecord> Interest(const std::string& customer, const std::string& product,
                                           int times, double day, std::int32_t partition,
                                           std::int64_t& offset) {
    std::vector<InputRecord> records;
    for (int i = 0; i < times; ++i) {
      Touchpoint tp =
          For(customer, Type::kContact, customer + product + std::to_string(offset), day + i);
      tp.product = product;
      records.push_back(Record(partition, offset++, std::move(tp)));
    }
    return records;
  }

  // The customers of the offer index of `product`, in its order.
  std::vector<std::string> Ranked(const std::string& product) const {
    std::vector<std::string> ids;
    for (const OfferEntry& entry : store_.offers(product)) ids.push_back(entry.customer.value());
    return ids;
  }

  // The index entry of each customer is the appetence their state records.
  void ExpectIndexMatchesStates(const std::string& product) {
    for (const OfferEntry& entry : store_.offers(product)) {
      SCOPED_TRACE(entry.customer.value());
      const std::optional<CustomerState> state =
          store_.Get(entry.partition, entry.customer).value();
      ASSERT_TRUE(state.has_value());
      EXPECT_EQ(state->alert.indexed_appetence.at(product), entry.probability);
    }
  }
};

TEST_F(OfferIndexTest, LooksRankCustomersByAppetenceProspectsIncluded) {
  IngestProcessor processor = Started(&store_);
  std::int64_t offset = 0;
  std::vector<InputRecord> records = Interest("keen", "P", 4, 10, 0, offset);
  for (InputRecord& r : Interest("mild", "P", 1, 10, 1, offset)) records.push_back(std::move(r));
  for (InputRecord& r : Interest("cold", "Q", 1, 10, 0, offset)) records.push_back(std::move(r));
  ASSERT_TRUE(processor.Process(records).ok());
  // Prospects all: their looks are their touchpoints.
  EXPECT_EQ(Ranked("P"), (std::vector<std::string>{"keen", "mild", "cold"}));
  EXPECT_EQ(Ranked("Q").size(), 3u);
  ExpectIndexMatchesStates("P");
  ExpectIndexMatchesStates("Q");
  EXPECT_TRUE(Ranked("R").empty());  // not a product of the model
  // The store pages through the index as it ranks it.
  const auto first = store_.LikeliestBuyers("P", std::nullopt, 2).value();
  ASSERT_EQ(first.size(), 2u);
  const auto rest = store_.LikeliestBuyers("P", first.back(), 2).value();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest.front().customer, CustomerId("cold"));
  EXPECT_EQ(rest.front().partition, 0);
}

TEST_F(OfferIndexTest, AChangedAppetenceReplacesTheCustomersEntry) {
  IngestProcessor processor = Started(&store_);
  std::int64_t offset = 0;
  ASSERT_TRUE(processor.Process(Interest("keen", "P", 3, 10, 0, offset)).ok());
  ASSERT_TRUE(processor.Process(Interest("late", "P", 1, 10, 0, offset)).ok());
  EXPECT_EQ(Ranked("P"), (std::vector<std::string>{"keen", "late"}));
  const double before = store_.offers("P").back().probability;
  ASSERT_TRUE(processor.Process(Interest("late", "P", 6, 12, 0, offset)).ok());
  // One entry per customer: the old key went with the new one's write.
  EXPECT_EQ(Ranked("P"), (std::vector<std::string>{"late", "keen"}));
  EXPECT_GT(store_.offers("P").front().probability, before);
  ExpectIndexMatchesStates("P");
}

TEST_F(OfferIndexTest, AnOwnerBuyingMovesDownAndAnErasedCustomerLeaves) {
  IngestProcessor processor = Started(&store_);
  std::int64_t offset = 0;
  ASSERT_TRUE(processor.Process(Interest("buyer", "P", 3, 10, 0, offset)).ok());
  ASSERT_TRUE(processor.Process(Interest("other", "P", 2, 10, 0, offset)).ok());
  EXPECT_EQ(Ranked("P"), (std::vector<std::string>{"buyer", "other"}));
  Touchpoint bought = For("buyer", Type::kPurchase, "b1", 13);
  bought.product = "P";
  bought.amount = 20;
  ASSERT_TRUE(processor.Process({Record(0, offset++, bought)}).ok());
  EXPECT_EQ(Ranked("P"), (std::vector<std::string>{"other", "buyer"}));
  ExpectIndexMatchesStates("P");

  ErasureQueue queue;
  RecordingAuditLog audit;
  auto erased = queue.Submit({CustomerId("other"), "ops", Day(1001)});
  ASSERT_TRUE(processor.TakeErasures(queue, audit).ok());
  ASSERT_EQ(erased.get().value(), true);
  EXPECT_EQ(Ranked("P"), (std::vector<std::string>{"buyer"}));
  EXPECT_EQ(Ranked("Q"), (std::vector<std::string>{"buyer"}));
}

TEST_F(OfferIndexTest, ADroppedPartitionTakesItsEntries) {
  IngestProcessor processor = Started(&store_);
  std::int64_t offset = 0;
  ASSERT_TRUE(processor.Process(Interest("zero", "P", 1, 10, 0, offset)).ok());
  ASSERT_TRUE(processor.Process(Interest("one", "P", 1, 10, 1, offset)).ok());
  ASSERT_EQ(Ranked("P").size(), 2u);
  ASSERT_TRUE(store_.DropPartition(kTopic, 1).ok());
  EXPECT_EQ(Ranked("P"), (std::vector<std::string>{"zero"}));
}

}  // namespace
}  // namespace ingest_test
}  // namespace crm
