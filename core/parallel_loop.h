#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace crm {

// Runs the iterations of a loop on the calling thread and on `workers` threads
// of its own, kept for the next loop. With no worker, Run is a plain loop.
class ParallelLoop {
 public:
  // Each worker calls `started` (may be empty) first: e.g. to name its
  // thread, which is the platform's business, not core's.
  ParallelLoop(int workers, const std::function<void()>& started = {});
  ~ParallelLoop();
  ParallelLoop(const ParallelLoop&) = delete;
  ParallelLoop& operator=(const ParallelLoop&) = delete;

  int workers() const { return static_cast<int>(threads_.size()); }

  // Calls body(i) for every i in [0, n), each once, on any of the threads,
  // and returns when all have returned. Loops shorter than `min_parallel`
  // stay on the calling thread. `body` must not throw. One loop at a time.
  void Run(std::size_t n, const std::function<void(std::size_t)>& body,
           std::size_t min_parallel = 16) ABSL_LOCKS_EXCLUDED(mutex_);

  // Run in two halves, for a caller with work of its own meanwhile: Begin
  // hands the loop to the workers and returns at once; Wait returns when
  // every iteration has returned (without workers, it runs them all). Each
  // Begin is followed by one Wait.
  void Begin(std::size_t n, std::function<void(std::size_t)> body) ABSL_LOCKS_EXCLUDED(mutex_);
  void Wait() ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  void Work() ABSL_LOCKS_EXCLUDED(mutex_);
  void Take(const std::function<void(std::size_t)>& body, std::size_t n);

  absl::Mutex mutex_;
  absl::CondVar wake_;  // a new loop, or stop_
  absl::CondVar done_;  // busy_ reached 0
  // The running loop's body (set by Begin, left alone until its Wait).
  std::function<void(std::size_t)> body_;
  bool running_ ABSL_GUARDED_BY(mutex_) = false;
  std::size_t n_ ABSL_GUARDED_BY(mutex_) = 0;
  std::atomic<std::size_t> next_{0};
  int busy_ ABSL_GUARDED_BY(mutex_) = 0;                  // workers still in the running loop
  std::uint64_t generation_ ABSL_GUARDED_BY(mutex_) = 0;  // of the running loop
  bool stop_ ABSL_GUARDED_BY(mutex_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace crm
