#include "tools/demo/population.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/validation.h"

namespace crm::demo {
namespace {

constexpr int kEvents = 40'000;
const Timestamp kStart = FromMicros(1735689600LL * 1'000'000);  // 2025-01-01

PopulationOptions Options(std::uint64_t seed) {
  PopulationOptions options;
  options.customers = 300;
  options.seed = seed;
  options.start = kStart;
  return options;
}

TEST(PopulationTest, SameSeedSameStream) {
  Population a(Options(7)), b(Options(7)), c(Options(8));
  bool differs = false;
  for (int i = 0; i < 500; ++i) {
    const Touchpoint x = a.Next(), y = b.Next(), z = c.Next();
    ASSERT_EQ(x.event_id, y.event_id);
    ASSERT_EQ(x.customer_id, y.customer_id);
    ASSERT_EQ(x.occurred_at, y.occurred_at);
    differs |= x.customer_id != z.customer_id;
  }
  EXPECT_TRUE(differs);
}

TEST(PopulationTest, ValidInTimeOrderWithEveryPersonaBehavingAsNamed) {
  Population population(Options(3));
  Timestamp previous = kStart;
  std::map<std::string, int> purchases_early, purchases_late, complaints;
  std::map<std::string, std::vector<int>> satisfaction;
  std::set<std::string> seen_ids;
  int duplicates = 0;
  const Timestamp far_future = kStart + std::chrono::hours(24 * 3650);
  Timestamp last = kStart;
  std::vector<Touchpoint> events;
  for (int i = 0; i < kEvents; ++i) events.push_back(population.Next());
  last = events.back().occurred_at;
  const Timestamp late_from = kStart + (last - kStart) * 3 / 4;

  for (const Touchpoint& tp : events) {
    ASSERT_GE(tp.occurred_at, previous);
    previous = tp.occurred_at;
    ASSERT_EQ(ValidateTouchpoint(tp, tp.customer_id.value(), far_future, ValidationLimits{}),
              std::nullopt)
        << tp.event_id;
    if (!seen_ids.insert(tp.event_id).second) {
      ++duplicates;
      continue;
    }
    const std::string persona = tp.customer_id.value().substr(0, tp.customer_id.value().find('-'));
    if (tp.type == TouchpointType::kPurchase) {
      ++(tp.occurred_at < late_from ? purchases_early : purchases_late)[persona];
    }
    if (tp.type == TouchpointType::kComplaint) ++complaints[persona];
    if (tp.satisfaction) satisfaction[persona].push_back(*tp.satisfaction);
  }
  for (int p = 0; p < kPersonaCount; ++p) {
    const std::string name(PersonaName(static_cast<Persona>(p)));
    EXPECT_GT(purchases_early[name] + purchases_late[name], 0) << name;
  }
  // Duplicates at about the configured 1 %.
  EXPECT_GT(duplicates, kEvents / 200);
  EXPECT_LT(duplicates, kEvents / 50);
  // Declining customers stop buying in the last quarter; loyal ones do not.
  EXPECT_LT(purchases_late["declining"] * 10, purchases_early["declining"]);
  EXPECT_GT(purchases_late["loyal"] * 5, purchases_early["loyal"]);
  // Complaining customers complain and answer surveys badly; loyal ones do not.
  EXPECT_GT(complaints["complaining"], 100);
  EXPECT_EQ(complaints["loyal"], 0);
  auto mean = [](const std::vector<int>& v) {
    double sum = 0;
    for (int x : v) sum += x;
    return v.empty() ? -1 : sum / static_cast<double>(v.size());
  };
  EXPECT_LT(mean(satisfaction["complaining"]), 4.5);
  EXPECT_GT(mean(satisfaction["loyal"]), 7.5);
}

TEST(PopulationTest, CustomerIdsNameTheirPersona) {
  Population population(Options(1));
  EXPECT_EQ(population.CustomerOf(Persona::kLoyal, 0), "loyal-000000");
  EXPECT_EQ(population.CustomerOf(Persona::kDeclining, 0).rfind("declining-", 0), 0u);
  EXPECT_EQ(population.PersonaOf(99), Persona::kOccasional);
}

}  // namespace
}  // namespace crm::demo
