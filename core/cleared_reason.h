#pragma once

// Why an at-risk alert was cleared (see UpdateAlert in core/alerts.h). A
// closed set with one name table: the names are what the wire (the alerts
// topic, WatchAlerts) carries in ChurnAlert.cleared_reason.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace crm {

// kPurchased: the look that cleared it follows a purchase made since the
// alert was raised; kScoreFell: churn fell below the clear threshold with no
// purchase since the raise (silence the model no longer reads as leaving);
// kErased: the customer was erased while the alert was open (a name readers
// accept; this version does not publish it, see docs/alerts.md).
enum class ClearedReason : std::uint8_t { kPurchased, kScoreFell, kErased };

// Every reason, in the order of the enum.
inline constexpr std::array<ClearedReason, 3> kClearedReasons = {
    ClearedReason::kPurchased, ClearedReason::kScoreFell, ClearedReason::kErased};

// "PURCHASED", "SCORE_FELL" or "ERASED".
std::string_view ClearedReasonName(ClearedReason reason);

// The reason ClearedReasonName names; nullopt for any other text (including "").
std::optional<ClearedReason> ParseClearedReason(std::string_view name);

}  // namespace crm
