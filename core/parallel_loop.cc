#include "core/parallel_loop.h"

#include <pthread.h>

#include <algorithm>

namespace crm {

ParallelLoop::ParallelLoop(int workers, const std::string& name) {
  threads_.reserve(static_cast<std::size_t>(std::max(workers, 0)));
  for (int i = 0; i < workers; ++i) {
    threads_.emplace_back([this, name] {
      pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
      Work();
    });
  }
}

ParallelLoop::~ParallelLoop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
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
    std::lock_guard<std::mutex> lock(mutex_);
    body_ = &body;
    n_ = n;
    next_.store(0);
    busy_ = workers();
    ++generation_;
  }
  wake_.notify_all();
  Take(body, n);
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [this] { return busy_ == 0; });
  body_ = nullptr;
}

void ParallelLoop::Work() {
  std::uint64_t seen = 0;
  for (;;) {
    const std::function<void(std::size_t)>* body = nullptr;
    std::size_t n = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      body = body_;
      n = n_;
    }
    Take(*body, n);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --busy_;
    }
    done_.notify_one();
  }
}

}  // namespace crm
