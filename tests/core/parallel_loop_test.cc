// ParallelLoop: every iteration once, on the workers or the caller, and the
// loop begun in one call and waited for in another.
#include "core/parallel_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace crm {
namespace {

TEST(ParallelLoopTest, RunsEveryIterationOnce) {
  for (int workers : {0, 1, 3}) {
    ParallelLoop loop(workers);
    std::vector<std::atomic<int>> runs(100);
    loop.Run(
        runs.size(), [&](std::size_t i) { runs[i].fetch_add(1); }, /*min_parallel=*/2);
    for (std::size_t i = 0; i < runs.size(); ++i)
      EXPECT_EQ(runs[i].load(), 1) << workers << " " << i;
  }
}

TEST(ParallelLoopTest, BeginReturnsWhileTheWorkersRunTheLoop) {
  ParallelLoop loop(2);
  absl::Notification open;
  std::atomic<int> opened_in_time{0};
  loop.Begin(2, [&](std::size_t) {
    // Held until the caller, back from Begin, opens: a Begin that ran the
    // loop itself would wait here a minute in vain.
    if (open.WaitForNotificationWithTimeout(absl::Minutes(1))) opened_in_time.fetch_add(1);
  });
  open.Notify();
  loop.Wait();
  EXPECT_EQ(opened_in_time.load(), 2);
}

TEST(ParallelLoopTest, WithoutWorkersWaitRunsTheLoop) {
  ParallelLoop loop(0);
  std::vector<std::size_t> ran;
  loop.Begin(3, [&](std::size_t i) { ran.push_back(i); });
  EXPECT_TRUE(ran.empty());
  loop.Wait();
  EXPECT_EQ(ran, (std::vector<std::size_t>{0, 1, 2}));
  // And again: one loop after another.
  loop.Begin(1, [&](std::size_t i) { ran.push_back(10 + i); });
  loop.Wait();
  EXPECT_EQ(ran.back(), 10u);
}

}  // namespace
}  // namespace crm
