#include "core/state_cache.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "core/customer_id.h"
#include "core/customer_state.h"
#include "core/shared_states.h"

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

CustomerState WithNote(std::size_t bytes) {
  CustomerState state;
  state.profile["note"] = ProfileField{std::string(bytes, 'n'), Timestamp{}};
  return state;
}

TEST(StateCacheTest, EvictsByBytesBeforeEntries) {
  const std::size_t one = StateBytes(WithNote(10'000));
  StateCache cache(/*max_entries=*/100, /*max_bytes=*/3 * one + 1000);
  cache.Put(Id("a"), WithNote(10'000));
  cache.Put(Id("b"), WithNote(10'000));
  cache.Put(Id("c"), WithNote(10'000));
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_GE(cache.bytes(), 3 * one);
  EXPECT_LE(cache.bytes(), 3 * one + 1000);

  cache.Put(Id("d"), WithNote(10'000));  // over by bytes: "a", the oldest, goes
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_FALSE(Holds(cache, "a"));
  // A big one makes room for itself: two go.
  cache.Put(Id("e"), WithNote(20'000));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_FALSE(Holds(cache, "b"));
  EXPECT_FALSE(Holds(cache, "c"));
  EXPECT_TRUE(Holds(cache, "d"));
  EXPECT_TRUE(Holds(cache, "e"));
  EXPECT_LE(cache.bytes(), 3 * one + 1000);

  // Replacing counts the new size, not both.
  cache.Put(Id("d"), WithNote(10));
  EXPECT_LT(cache.bytes(), 2 * one + 1000);
  // One state over the bound alone is not kept, and evicts nothing.
  cache.Put(Id("huge"), WithNote(100'000));
  EXPECT_FALSE(Holds(cache, "huge"));
  EXPECT_EQ(cache.size(), 2u);
  cache.Erase(Id("d"));
  cache.Erase(Id("e"));
  EXPECT_EQ(cache.bytes(), 0u);
  cache.Put(Id("f"), WithNote(10));
  cache.Clear();
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(StateCacheTest, ZeroMaxBytesBoundsByEntriesOnly) {
  StateCache cache(/*max_entries=*/2, /*max_bytes=*/0);
  cache.Put(Id("a"), WithNote(1'000'000));
  cache.Put(Id("b"), WithNote(1'000'000));
  EXPECT_EQ(cache.size(), 2u);
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

// The shared copy of an entry goes whenever the entry changes or leaves:
// shared again only by whoever commits the new state.
TEST(StateCacheTest, ASharedStateLeavesWithItsEntryAndWhenItChanges) {
  SharedStates shared;
  StateCache cache(2);
  cache.Share(&shared);
  const auto share = [&](const std::string& id) {
    shared.Put(Id(id), std::make_shared<const std::string>(id + "-bytes"));
  };
  cache.Put(Id("a"), WithEvents(1));
  share("a");
  cache.Put(Id("b"), WithEvents(2));
  share("b");
  ASSERT_NE(shared.Find(Id("a")), nullptr);
  EXPECT_EQ(*shared.Find(Id("a")), "a-bytes");
  cache.Put(Id("a"), WithEvents(3));  // changed: its old bytes are stale
  EXPECT_EQ(shared.Find(Id("a")), nullptr);
  share("a");
  cache.Put(Id("c"), WithEvents(4));  // evicts b, the least recently used
  EXPECT_FALSE(Holds(cache, "b"));
  EXPECT_EQ(shared.Find(Id("b")), nullptr);
  EXPECT_NE(shared.Find(Id("a")), nullptr);
  cache.Erase(Id("a"));
  EXPECT_EQ(shared.Find(Id("a")), nullptr);
  share("c");
  cache.Clear();
  EXPECT_EQ(shared.size(), 0u);
}

TEST(SharedStatesTest, ReadersKeepWhatTheyFoundWhileItIsReplaced) {
  SharedStates shared;
  const CustomerId id("a");
  EXPECT_EQ(shared.Find(id), nullptr);
  shared.Put(id, std::make_shared<const std::string>("one"));
  const std::shared_ptr<const std::string> found = shared.Find(id);
  shared.Put(id, std::make_shared<const std::string>("two"));
  EXPECT_EQ(*found, "one");
  EXPECT_EQ(*shared.Find(id), "two");
  EXPECT_EQ(shared.size(), 1u);
  shared.Erase(id);
  EXPECT_EQ(shared.Find(id), nullptr);
  EXPECT_EQ(*found, "one");
}

}  // namespace
}  // namespace crm
