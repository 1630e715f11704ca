#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
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
  // Returns once every queued record is durable; called before the offsets
  // that pass over them are committed, so a rejected record is never lost.
  virtual absl::Status Flush() = 0;
};

}  // namespace crm
