#pragma once

// The outbox's sequence numbers (StateBatch::outbox), taken by every
// committer of one store: the ingest's processors, each on its own thread.

#include <atomic>
#include <cstdint>
#include <optional>

namespace crm {

class AlertSequence {
 public:
  // Numbers from just after `last` (the outbox's last alert, read at load)
  // on, unless numbers past it were taken already.
  void StartAfter(std::optional<std::uint64_t> last) {
    if (!last) return;
    std::uint64_t next = next_.load();
    while (next <= *last && !next_.compare_exchange_weak(next, *last + 1)) {
    }
  }

  // A number never taken before. A commit that fails leaves its numbers
  // unused: the outbox has gaps, and is read in order all the same.
  std::uint64_t Take() { return next_.fetch_add(1); }

 private:
  std::atomic<std::uint64_t> next_{0};
};

}  // namespace crm
