#pragma once

#include <memory>
#include <mutex>
#include <utility>

namespace crm {

// Where one thread publishes the latest immutable version of a T (a model, a
// population view) and others read it; a reader keeps the version it got for
// as long as it needs it. Thread-safe.
template <typename T>
class Board {
 public:
  explicit Board(std::shared_ptr<const T> initial = std::make_shared<T>())
      : current_(std::move(initial)) {}

  void Publish(std::shared_ptr<const T> next) {
    std::lock_guard lock(mutex_);
    current_ = std::move(next);
  }
  // Never null.
  std::shared_ptr<const T> Current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const T> current_;
};

}  // namespace crm
