#include "core/state_cache.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/customer_id.h"
#include "core/customer_state.h"

namespace crm {
namespace {

CustomerState WithEvents(std::uint64_t events) {
  CustomerState state;
  state.events_applied = events;
  return state;
}

CustomerId Id(const std::string& value) { return CustomerId(value); }

bool Holds(StateCache& cache, const std::string& id) { return cache.Find(Id(id)) != nullptr; }

TEST(StateCacheTest, EvictsInLeastRecentlyUsedOrder) {
  StateCache cache(3);
  cache.Put(Id("a"), WithEvents(1));
  cache.Put(Id("b"), WithEvents(2));
  cache.Put(Id("c"), WithEvents(3));
  EXPECT_EQ(cache.size(), 3u);

  cache.Put(Id("d"), WithEvents(4));  // "a" is the oldest
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.Find(Id("a")), nullptr);

  cache.Put(Id("e"), WithEvents(5));  // then "b"
  EXPECT_EQ(cache.Find(Id("b")), nullptr);
  cache.Put(Id("f"), WithEvents(6));  // then "c"
  EXPECT_EQ(cache.Find(Id("c")), nullptr);
  EXPECT_EQ(cache.size(), 3u);
  for (const char* id : {"d", "e", "f"}) EXPECT_TRUE(Holds(cache, id)) << id;
}

TEST(StateCacheTest, FindMarksTheEntryMostRecentlyUsed) {
  StateCache cache(2);
  cache.Put(Id("a"), WithEvents(1));
  cache.Put(Id("b"), WithEvents(2));
  const CustomerState* found = cache.Find(Id("a"));  // "b" is now the oldest
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->events_applied, 1u);
  cache.Put(Id("c"), WithEvents(3));
  EXPECT_EQ(cache.Find(Id("b")), nullptr);
  ASSERT_NE(cache.Find(Id("a")), nullptr);
  EXPECT_EQ(cache.Find(Id("a"))->events_applied, 1u);
  ASSERT_NE(cache.Find(Id("c")), nullptr);
  EXPECT_EQ(cache.Find(Id("c"))->events_applied, 3u);
}

TEST(StateCacheTest, AMissDoesNotChangeTheOrder) {
  StateCache cache(2);
  cache.Put(Id("a"), WithEvents(1));
  cache.Put(Id("b"), WithEvents(2));
  EXPECT_EQ(cache.Find(Id("zzz")), nullptr);
  cache.Put(Id("c"), WithEvents(3));
  EXPECT_FALSE(Holds(cache, "a"));
  EXPECT_TRUE(Holds(cache, "b"));
}

TEST(StateCacheTest, PutReplacesAndMarksTheEntryMostRecentlyUsed) {
  StateCache cache(2);
  cache.Put(Id("a"), WithEvents(1));
  cache.Put(Id("b"), WithEvents(2));
  cache.Put(Id("a"), WithEvents(10));  // replaces; "b" is now the oldest
  EXPECT_EQ(cache.size(), 2u);
  cache.Put(Id("c"), WithEvents(3));
  EXPECT_FALSE(Holds(cache, "b"));
  ASSERT_NE(cache.Find(Id("a")), nullptr);
  EXPECT_EQ(cache.Find(Id("a"))->events_applied, 10u);
}

TEST(StateCacheTest, EraseAndClearForget) {
  StateCache cache(4);
  cache.Put(Id("a"), WithEvents(1));
  cache.Put(Id("b"), WithEvents(2));
  cache.Erase(Id("a"));
  cache.Erase(Id("not-there"));  // a no-op
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.Find(Id("a")), nullptr);
  EXPECT_TRUE(Holds(cache, "b"));
  cache.Clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.Find(Id("b")), nullptr);
  cache.Put(Id("c"), WithEvents(3));  // still usable after Clear
  EXPECT_TRUE(Holds(cache, "c"));
}

TEST(StateCacheTest, ErasedEntriesFreeTheirPlace) {
  StateCache cache(2);
  cache.Put(Id("a"), WithEvents(1));
  cache.Put(Id("b"), WithEvents(2));
  cache.Erase(Id("b"));
  cache.Put(Id("c"), WithEvents(3));  // fits without evicting "a"
  EXPECT_TRUE(Holds(cache, "a"));
  EXPECT_TRUE(Holds(cache, "c"));
}

TEST(StateCacheTest, CapacityZeroHoldsNothing) {
  StateCache cache(0);
  cache.Put(Id("a"), WithEvents(1));
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.Find(Id("a")), nullptr);
}

TEST(StateCacheTest, CapacityOneKeepsTheLatestPut) {
  StateCache cache(1);
  cache.Put(Id("a"), WithEvents(1));
  cache.Put(Id("b"), WithEvents(2));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_FALSE(Holds(cache, "a"));
  ASSERT_NE(cache.Find(Id("b")), nullptr);
  EXPECT_EQ(cache.Find(Id("b"))->events_applied, 2u);
}

}  // namespace
}  // namespace crm
