#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/customer_state.h"
#include "core/state_store.h"
#include "core/touchpoint.h"

namespace crm {

// Serialises a customer's state for storage (crm.internal.StoredCustomer).
std::string EncodeState(const CustomerState& state);

// Parses what EncodeState wrote; DataLossError when the bytes are not a valid record.
absl::StatusOr<CustomerState> DecodeState(std::string_view bytes);

// The next look (alert.next_look) of the state EncodeState wrote in
// `bytes`, read without decoding the rest; DataLossError when the bytes do
// not parse as far as it.
absl::StatusOr<std::optional<Timestamp>> NextLookOf(std::string_view bytes);

// A partition's state (crm.internal.StoredPartition): in the data dir, and as
// the value of a changelog marker.
std::string EncodePartition(const PartitionState& state);
absl::StatusOr<PartitionState> DecodePartition(std::string_view bytes);

// One of a customer's recent touchpoints for storage (StateBatch::touchpoints):
// a crm.v1.Touchpoint without its customer id (the key holds it) nor its
// attributes (not kept).
std::string EncodeRecentTouchpoint(const Touchpoint& touchpoint);
// Parses what EncodeRecentTouchpoint wrote, as `customer`'s; DataLossError
// when the bytes are not a valid record.
absl::StatusOr<Touchpoint> DecodeRecentTouchpoint(std::string_view bytes,
                                                  const CustomerId& customer);

// One alert's follow-up for the outcome index (crm.internal.StoredFollowUp,
// as in a customer's record); DataLossError when the bytes are not one.
std::string EncodeFollowUpRecord(const AlertFollowUp& follow_up);
absl::StatusOr<AlertFollowUp> DecodeFollowUpRecord(std::string_view bytes);

}  // namespace crm
