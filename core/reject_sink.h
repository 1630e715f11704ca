#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/validation.h"

namespace crm {

// Where rejected input goes (port; the dead-letter topic in production).
// Called from the consumer thread only.
class RejectSink {
 public:
  virtual ~RejectSink() = default;
  // Queues the original record with the reason it was rejected.
  virtual absl::Status Send(std::int32_t partition, std::int64_t offset, std::string_view key,
                            std::string_view value, const Rejection& rejection) = 0;
  // Returns once every queued record is durable or passed over; called
  // before the offsets that pass over them are committed. A record passed
  // over is one the destination refuses for itself (too large even when cut
  // down, invalid): it is never retried, and the result counts it (the
  // number passed over since the last Flush). An error (the destination
  // away, a timeout) means the queued records are not known durable: the
  // caller must not commit offsets past them.
  virtual absl::StatusOr<std::uint64_t> Flush() = 0;
};

}  // namespace crm
