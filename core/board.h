#pragma once

#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace crm {

// Where one thread publishes the latest immutable version of a T (a model, a
// population view) and others read it; a reader keeps the version it got for
// as long as it needs it. Thread-safe.
template <typename T>
class Board {
 public:
  explicit Board(std::shared_ptr<const T> initial = std::make_shared<T>())
      : current_(std::move(initial)) {}

  void Publish(std::shared_ptr<const T> next) ABSL_LOCKS_EXCLUDED(mutex_) {
    absl::MutexLock lock(&mutex_);
    current_ = std::move(next);
  }
  // Never null.
  std::shared_ptr<const T> Current() const ABSL_LOCKS_EXCLUDED(mutex_) {
    absl::MutexLock lock(&mutex_);
    return current_;
  }

 private:
  mutable absl::Mutex mutex_;
  std::shared_ptr<const T> current_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace crm
