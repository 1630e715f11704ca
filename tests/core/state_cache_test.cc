#include "core/state_cache.h"

#include <gtest/gtest.h>

namespace crm {
namespace {

CustomerState WithEvents(std::uint64_t events) {
  CustomerState state;
  state.events_applied = events;
  return state;
}

TEST(StateCacheTest, EvictsTheLeastRecentlyUsed) {
  StateCache cache(2);
  cache.Put(CustomerId("a"), WithEvents(1));
  cache.Put(CustomerId("b"), WithEvents(2));
  ASSERT_NE(cache.Find(CustomerId("a")), nullptr);  // "a" is now the most recent
  cache.Put(CustomerId("c"), WithEvents(3));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Find(CustomerId("b")), nullptr);
  EXPECT_EQ(cache.Find(CustomerId("a"))->events_applied, 1u);
  EXPECT_EQ(cache.Find(CustomerId("c"))->events_applied, 3u);
}

TEST(StateCacheTest, PutReplacesAndEraseAndClearForget) {
  StateCache cache(4);
  cache.Put(CustomerId("a"), WithEvents(1));
  cache.Put(CustomerId("a"), WithEvents(5));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.Find(CustomerId("a"))->events_applied, 5u);
  cache.Erase(CustomerId("a"));
  EXPECT_EQ(cache.Find(CustomerId("a")), nullptr);
  cache.Put(CustomerId("b"), WithEvents(1));
  cache.Clear();
  EXPECT_EQ(cache.size(), 0u);
}

TEST(StateCacheTest, CapacityZeroHoldsNothing) {
  StateCache cache(0);
  cache.Put(CustomerId("a"), WithEvents(1));
  EXPECT_EQ(cache.Find(CustomerId("a")), nullptr);
}

}  // namespace
}  // namespace crm
