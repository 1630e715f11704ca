#include "core/look_schedule.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/customer_id.h"
#include "core/time.h"

namespace crm {
namespace {

std::vector<DueEntry> Held(const LookSchedule& schedule) {
  std::vector<DueEntry> held;
  for (const DueEntry* e = schedule.After(std::nullopt); e != nullptr; e = schedule.After(*e)) {
    held.push_back(*e);
  }
  return held;
}

DueEntry Entry(std::int64_t at, const std::string& id) { return {FromMicros(at), CustomerId(id)}; }

TEST(LookScheduleTest, HoldsTheEarliestLooksUpToItsCapacityAndKnowsWhereTheOthersStart) {
  LookSchedule schedule(3);
  for (const auto& [at, id] : std::vector<std::pair<int, std::string>>{
           {50, "e"}, {10, "a"}, {40, "d"}, {20, "b"}, {30, "c"}}) {
    schedule.Add(CustomerId(id), FromMicros(at));
  }
  EXPECT_EQ(Held(schedule),
            (std::vector<DueEntry>{Entry(10, "a"), Entry(20, "b"), Entry(30, "c")}));
  EXPECT_EQ(schedule.floor(), Entry(40, "d"));
  // A look moved past the floor leaves; one moved before it comes, and the
  // latest held makes way, the floor coming down to it.
  schedule.Move(CustomerId("a"), FromMicros(10), FromMicros(60));
  EXPECT_EQ(Held(schedule), (std::vector<DueEntry>{Entry(20, "b"), Entry(30, "c")}));
  schedule.Move(CustomerId("e"), FromMicros(50), FromMicros(5));
  schedule.Add(CustomerId("f"), FromMicros(25));
  EXPECT_EQ(Held(schedule), (std::vector<DueEntry>{Entry(5, "e"), Entry(20, "b"), Entry(25, "f")}));
  EXPECT_EQ(schedule.floor(), Entry(30, "c"));
  // Same time, ordered by customer: a tie is no reason to hold one and not the other.
  schedule.Add(CustomerId("a2"), FromMicros(25));
  EXPECT_EQ(Held(schedule),
            (std::vector<DueEntry>{Entry(5, "e"), Entry(20, "b"), Entry(25, "a2")}));
  EXPECT_EQ(schedule.floor(), Entry(25, "f"));
  EXPECT_EQ(schedule.After(Entry(20, "b"))->customer, CustomerId("a2"));
  EXPECT_EQ(schedule.After(Entry(25, "a2")), nullptr);
}

TEST(LookScheduleTest, TheBacklogCountsTheLooksDueUpToTheCap) {
  LookSchedule schedule(2);
  EXPECT_EQ(schedule.Backlog(FromMicros(100), 10).due, 0u);
  EXPECT_FALSE(schedule.Backlog(FromMicros(100), 10).earliest);
  for (int at : {10, 20, 30}) schedule.Add(CustomerId("c" + std::to_string(at)), FromMicros(at));
  EXPECT_EQ(schedule.Backlog(FromMicros(5), 10).due, 0u);
  EXPECT_EQ(schedule.Backlog(FromMicros(5), 10).earliest, FromMicros(10));
  EXPECT_EQ(schedule.Backlog(FromMicros(15), 10).due, 1u);
  // Past the two held, the floor is due too (at least).
  EXPECT_EQ(schedule.Backlog(FromMicros(30), 10).due, 3u);
  EXPECT_EQ(schedule.Backlog(FromMicros(30), 2).due, 2u);
}

// Whatever the moves, the schedule holds exactly the entries before its
// floor, at most its capacity, and every entry it does not hold is at or
// after the floor.
TEST(LookScheduleTest, RandomMovesKeepExactlyTheEntriesBeforeTheFloor) {
  std::mt19937 random(20261204);
  for (std::size_t capacity : {1, 2, 5, 40}) {
    SCOPED_TRACE(capacity);
    LookSchedule schedule(capacity);
    std::map<std::string, std::int64_t> next;  // every customer's next look
    for (int step = 0; step < 3000; ++step) {
      const std::string id = "c" + std::to_string(random() % 60);
      const auto found = next.find(id);
      std::optional<Timestamp> from;
      if (found != next.end()) from = FromMicros(found->second);
      std::optional<Timestamp> to;
      if (random() % 5 != 0) to = FromMicros(static_cast<std::int64_t>(random() % 200));
      schedule.Move(CustomerId(id), from, to);
      if (to) {
        next[id] = ToMicros(*to);
      } else {
        next.erase(id);
      }
      std::set<DueEntry> all;
      for (const auto& [customer, at] : next) all.insert(Entry(at, customer));
      std::vector<DueEntry> want;
      for (const DueEntry& e : all) {
        if (!schedule.floor() || e < *schedule.floor()) want.push_back(e);
      }
      ASSERT_EQ(Held(schedule), want) << "step " << step;
      ASSERT_LE(schedule.size(), capacity);
      if (!schedule.floor()) {
        ASSERT_EQ(want.size(), all.size());
      }
    }
  }
}

}  // namespace
}  // namespace crm
