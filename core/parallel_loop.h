#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace crm {

// Runs the iterations of a loop on the calling thread and on `workers` threads
// of its own, kept for the next loop. With no worker, Run is a plain loop.
class ParallelLoop {
 public:
  // `name` names the workers' threads (at most 15 characters).
  ParallelLoop(int workers, const std::string& name);
  ~ParallelLoop();
  ParallelLoop(const ParallelLoop&) = delete;
  ParallelLoop& operator=(const ParallelLoop&) = delete;

  int workers() const { return static_cast<int>(threads_.size()); }

  // Calls body(i) for every i in [0, n), each once, on any of the threads,
  // and returns when all have returned. Loops shorter than `min_parallel`
  // stay on the calling thread. `body` must not throw. One Run at a time.
  void Run(std::size_t n, const std::function<void(std::size_t)>& body,
           std::size_t min_parallel = 16);

 private:
  void Work();
  void Take(const std::function<void(std::size_t)>& body, std::size_t n);

  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(std::size_t)>* body_ = nullptr;  // the running loop's
  std::size_t n_ = 0;
  std::atomic<std::size_t> next_{0};
  int busy_ = 0;                  // workers still in the running loop
  std::uint64_t generation_ = 0;  // of the running loop
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace crm
