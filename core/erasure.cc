#include "core/erasure.h"

#include <utility>

namespace crm {

std::future<absl::StatusOr<bool>> ErasureQueue::Submit(ErasureRequest request) {
  Pending pending{std::move(request), {}};
  std::future<absl::StatusOr<bool>> done = pending.done.get_future();
  std::lock_guard lock(mutex_);
  pending_.push_back(std::move(pending));
  return done;
}

std::vector<ErasureQueue::Pending> ErasureQueue::TakeAll() {
  std::lock_guard lock(mutex_);
  return std::exchange(pending_, {});
}

}  // namespace crm
