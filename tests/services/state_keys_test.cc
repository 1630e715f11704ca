#include "services/storage/state_keys.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace crm {
namespace {

const CustomerId kCustomer("c");

// The at-risk index reads down the keys: the highest churn comes first,
// 0 (either sign of it) last.
TEST(StateKeysTest, RiskKeysSortHighestChurnFirstAndBothZerosAlike) {
  const std::string one = RiskKey(0, 1.0, kCustomer);
  const std::string high = RiskKey(0, 0.9, kCustomer);
  const std::string low = RiskKey(0, 0.1, kCustomer);
  const std::string zero = RiskKey(0, 0.0, kCustomer);
  EXPECT_LT(one, high);
  EXPECT_LT(high, low);
  EXPECT_LT(low, zero);
  EXPECT_EQ(RiskKey(0, -0.0, kCustomer), zero);
}

// A churn that is not a probability is a bug upstream: it crashes loudly
// rather than being clamped into the index.
TEST(StateKeysDeathTest, ARiskKeyOfAChurnOutsideZeroOneCrashes) {
  EXPECT_DEATH(RiskKey(0, -0.25, kCustomer), "check failed");
  EXPECT_DEATH(RiskKey(0, 1.5, kCustomer), "check failed");
  EXPECT_DEATH(RiskKey(0, std::numeric_limits<double>::quiet_NaN(), kCustomer), "check failed");
}

// A customer's recent touchpoints sort by sequence under a prefix no other
// customer's keys start with, not even one whose id extends theirs.
TEST(StateKeysTest, TouchpointKeysSortBySequenceUnderAPrefixOfTheirCustomerAlone) {
  const CustomerId a("a"), ab("ab");
  const std::string prefix = TouchpointPrefix(3, a);
  EXPECT_EQ(prefix, std::string("h\0\0\0\3\0\0\0\1a", 10));
  EXPECT_EQ(TouchpointKey(3, a, 258), prefix + std::string("\0\0\0\0\0\0\1\2", 8));
  EXPECT_LT(TouchpointKey(3, a, 255), TouchpointKey(3, a, 256));
  EXPECT_FALSE(TouchpointKey(3, ab, 1).starts_with(prefix));
  EXPECT_FALSE(TouchpointPrefix(3, ab).starts_with(prefix));
  EXPECT_FALSE(TouchpointKey(4, a, 1).starts_with(prefix));
  EXPECT_FALSE(TouchpointKey(3, CustomerId(""), 1).starts_with(prefix));
}

}  // namespace
}  // namespace crm
