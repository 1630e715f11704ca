#pragma once

// What the gRPC edge accepts: each request is checked by one pure function
// before any work is done, and what it says about a bad value never echoes
// the value whole. Thread-safe (no state).

#include <google/protobuf/timestamp.pb.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "core/bounded_text.h"  // IsUtf8, IsPrintable
#include "crm/v1/scoring.pb.h"

namespace crm {

// The longest customer_id accepted, in bytes (CONTRACT.md, "Access").
inline constexpr std::size_t kMaxCustomerIdBytes = 256;
// The most customer_ids in one BatchGetCustomerScores.
inline constexpr int kMaxBatchIds = 1000;
// The most customers one ListAtRiskCustomers or ListOfferTargets may ask for.
inline constexpr std::uint32_t kMaxTopN = 1000;
// The longest product code ListOfferTargets accepts, in bytes.
inline constexpr std::size_t kMaxProductBytes = 256;
// The longest campaign code ListOfferTargets and GetAlertOutcomes accept (as
// a touchpoint's campaign_id), in bytes.
inline constexpr std::size_t kMaxCampaignIdBytes = 256;

// `text` fit to be shown in a status or a log line: at most `max_bytes` of
// it (cut on a character boundary, "…" and its full size appended when cut),
// quotes, backslashes, bytes that are not UTF-8 and what IsPrintable refuses
// escaped (\n, \x1b, \xff, \u202e, …), in double quotes. The result is
// printable (IsPrintable) and up to 4 times the bytes shown long (an escape
// takes at most 4 bytes per byte), plus 34.
std::string Quoted(std::string_view text, std::size_t max_bytes = 48);

// OK, or InvalidArgument naming `field` (e.g. "customer_id", "customer_ids[3]")
// when `id` is empty, longer than kMaxCustomerIdBytes or not UTF-8.
absl::Status ValidateCustomerId(std::string_view id, std::string_view field = "customer_id");

// OK, or InvalidArgument naming `field` when `as_of` is outside the years
// 1900-9999 (UTC) or its nanos outside [0, 1e9): every time accepted
// converts to Timestamp without overflow.
absl::Status ValidateAsOf(const google::protobuf::Timestamp& as_of,
                          std::string_view field = "as_of");

// OK, or InvalidArgument when `segment` is not one of the ABC segments
// ("A", "B", "C") nor empty (every segment).
absl::Status ValidateSegmentFilter(std::string_view segment);

// One check per request: OK, or InvalidArgument saying which field is bad
// and why (the value quoted, cut).
absl::Status Validate(const v1::GetCustomerScoresRequest& request);
absl::Status Validate(const v1::BatchGetCustomerScoresRequest& request);
absl::Status Validate(const v1::GetCustomerStateRequest& request);
absl::Status Validate(const v1::ListAtRiskCustomersRequest& request);
// Also when top_n is 0 and when a channel is given that is not a known one;
// whether the model scores the product is the service's to say.
absl::Status Validate(const v1::ListOfferTargetsRequest& request);
absl::Status Validate(const v1::WatchAlertsRequest& request);
// Also when since is not before until, and when a campaign_id comes with an
// action or a segment.
absl::Status Validate(const v1::GetAlertOutcomesRequest& request);
absl::Status Validate(const v1::EraseCustomerRequest& request);

}  // namespace crm
