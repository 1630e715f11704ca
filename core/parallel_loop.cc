#include "core/parallel_loop.h"

#include <algorithm>
#include <utility>

#include "core/check.h"

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
  Begin(n, body);
  Take(body_, n);  // the caller's share
  Wait();
}

void ParallelLoop::Begin(std::size_t n, std::function<void(std::size_t)> body) {
  {
    absl::MutexLock lock(&mutex_);
    CRM_CHECK(!running_);  // one loop at a time
    running_ = true;
    body_ = std::move(body);
    n_ = n;
    next_.store(0);
    busy_ = workers();
    ++generation_;
  }
  if (!threads_.empty()) wake_.SignalAll();
}

void ParallelLoop::Wait() {
  std::size_t n = 0;
  {
    absl::MutexLock lock(&mutex_);
    CRM_CHECK(running_);  // after a Begin
    n = n_;
  }
  // body_ is not written between Begin and the end of Wait. With workers,
  // the caller leaves them the loop: it would take an iteration whenever it
  // came before a worker woke, and then be late for its own work.
  if (threads_.empty()) Take(body_, n);
  absl::MutexLock lock(&mutex_);
  while (busy_ != 0) done_.Wait(&mutex_);
  running_ = false;
}

void ParallelLoop::Work() {
  std::uint64_t seen = 0;
  for (;;) {
    const std::function<void(std::size_t)>* body = nullptr;  // body_, set before generation_
    std::size_t n = 0;
    {
      absl::MutexLock lock(&mutex_);
      while (!stop_ && generation_ == seen) wake_.Wait(&mutex_);
      if (stop_) return;
      seen = generation_;
      body = &body_;
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
