#include "core/erasure.h"

#include <cstdlib>
#include <utility>

namespace crm {

std::string_view ErasureOutcomeName(ErasureOutcome outcome) {
  switch (outcome) {
    case ErasureOutcome::kErased:
      return "erased";
    case ErasureOutcome::kNothingToErase:
      return "nothing-to-erase";
    case ErasureOutcome::kRefused:
      return "refused";
    case ErasureOutcome::kFailed:
      return "failed";
  }
  std::abort();  // not an ErasureOutcome: memory is corrupt
}

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
