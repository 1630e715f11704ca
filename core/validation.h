#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/bounded_text.h"
#include "core/time.h"
#include "core/touchpoint.h"

namespace crm {

// Why a record on the touchpoint topic was rejected. Each value is a metric
// label and a dead-letter header; names (RejectReasonName) are stable.
enum class RejectReason : std::uint8_t {
  kMalformed,          // not decodable as protobuf nor JSON
  kMissingCustomerId,  // empty customer_id
  kKeyMismatch,        // Kafka key differs from customer_id
  kMissingEventId,     // empty event_id
  kBadTimestamp,       // missing, or outside [min_event_time, now + max_future]
  kUnknownEnum,        // channel or type unknown, or type unspecified
  kBadAmount,          // NaN, infinite, negative, above max_amount, or missing on a purchase
  kBadSatisfaction,    // outside 0-10, or a survey without one
  kMissingConsent,     // consent touchpoint without consent_granted or channel
  kOversized,          // a field, the attributes or the record over its limit
  kStateTooLarge,      // would take the customer's state past StateLimits::max_state_bytes
  kBadCampaignId,      // a campaign contact without campaign_id, or one on another type
};
inline constexpr int kRejectReasonCount = 12;

std::string_view RejectReasonName(RejectReason reason);  // "malformed", "key_mismatch", …

// The longest detail a rejection carries, escaped and cut included.
inline constexpr std::size_t kMaxRejectionDetailBytes = 1024;

// Why one record was rejected. The detail may quote the input (a parser's
// error names what it read), so it is bounded once, here, before it goes
// anywhere (the dead-letter header, a log line): BoundedText of what it is
// given, at most kMaxRejectionDetailBytes, one line, control characters and
// invalid UTF-8 escaped. Only `reason` is open: any value of it is valid.
class Rejection {
 public:
  Rejection(RejectReason reason, std::string_view detail)
      : reason(reason), detail_(BoundedText(detail, kMaxRejectionDetailBytes)) {}

  const std::string& detail() const { return detail_; }

  RejectReason reason;

 private:
  std::string detail_;
};

// What a touchpoint must satisfy before it may touch state.
struct ValidationLimits {
  std::size_t max_id_bytes = 256;  // event_id, customer_id
  std::size_t max_product_bytes = 256;
  std::size_t max_campaign_id_bytes = 256;
  std::size_t max_attributes = 64;
  std::size_t max_attribute_bytes = 1024;  // one key or value
  double max_amount = 1e9;
  Timestamp min_event_time = FromMicros(-2208988800LL * 1000000);  // 1900-01-01
  Micros max_future = std::chrono::hours(24);  // tolerated clock skew ahead of `now`
};

// Checks one decoded touchpoint read under Kafka key `key`, at wall time `now`.
// Returns nullopt when it may be applied, the first problem found otherwise.
std::optional<Rejection> ValidateTouchpoint(const Touchpoint& touchpoint, std::string_view key,
                                            Timestamp now, const ValidationLimits& limits);

}  // namespace crm
