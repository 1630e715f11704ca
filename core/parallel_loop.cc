#include "core/parallel_loop.h"

#include <algorithm>
#include <utility>

namespace crm {

ParallelLoop::ParallelLoop(int workers, const std::function<void()>& started) {
  threads_.reserve(static_cast<std::size_t>(std::max(workers, 0)));
  for (int i = 0; i < workers; ++i) {
    threads_.emplace_back([this, started] {
      if (started) started();
      Work();
    });
  }
}

ParallelLoop::~ParallelLoop() {
  {
    absl::MutexLock lock(&mutex_);
    stop_ = true;
  }
  wake_.SignalAll();
  for (std::thread& thread : threads_) thread.join();
}

void ParallelLoop::Take(const std::function<void(std::size_t)>& body, std::size_t n) {
  for (std::size_t i = next_.fetch_add(1); i < n; i = next_.fetch_add(1)) body(i);
}

void ParallelLoop::Run(std::size_t n, const std::function<void(std::size_t)>& body,
                       std::size_t min_parallel) {
  if (threads_.empty() || n < min_parallel) {
    for (std::size_t i = 0; i < n; ++i) body(i);
    return;
  }
  {
    absl::MutexLock lock(&mutex_);
    body_ = &body;
    n_ = n;
    next_.store(0);
    busy_ = workers();
    ++generation_;
  }
  wake_.SignalAll();
  Take(body, n);
  absl::MutexLock lock(&mutex_);
  while (busy_ != 0) done_.Wait(&mutex_);
  body_ = nullptr;
}

void ParallelLoop::Work() {
  std::uint64_t seen = 0;
  for (;;) {
    const std::function<void(std::size_t)>* body = nullptr;
    std::size_t n = 0;
    {
      absl::MutexLock lock(&mutex_);
      while (!stop_ && generation_ == seen) wake_.Wait(&mutex_);
      if (stop_) return;
      seen = generation_;
      body = body_;
      n = n_;
    }
    Take(*body, n);
    {
      absl::MutexLock lock(&mutex_);
      --busy_;
    }
    done_.Signal();
  }
}

}  // namespace crm
