#pragma once

// A batch of input records as the ingest takes it, and what it made of them.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/alert_event.h"
#include "core/touchpoint.h"
#include "core/validation.h"

namespace crm {

// One record read from the input topic, decoded at the service's edge: a
// touchpoint, or the reason it could not be decoded.
struct InputRecord {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::string key;
  std::string_view value;  // the original bytes, valid while the batch is processed
  std::variant<Touchpoint, Rejection> payload;
};

struct RejectedRecord {
  std::size_t index = 0;  // into the batch passed to Process
  Rejection rejection;
};

struct BatchResult {
  std::size_t applied = 0;
  std::size_t duplicates = 0;
  std::vector<RejectedRecord> rejected;
  std::vector<AlertEvent> alerts;  // with EnableAlerts
  std::size_t looks_taken = 0;     // looks taken from the time index
  std::size_t erased = 0;          // dropped: their customer was erased after they occurred
};

}  // namespace crm
