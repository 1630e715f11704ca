#pragma once

// What an at-risk alert recommends doing about the customer (see
// RecommendAction in core/alerts.h). A closed set with one name table: the
// names are what the wire (gRPC, the alerts topic, metric labels) carries.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace crm {

// kWinBack: a valuable customer at risk; kRetain: a valuable one not yet at
// risk; kDevelop: an under-developed one; kReactivate: a valuable customer
// already lost; kOnboard: a new customer at risk; kNone: nothing (let go).
enum class RecommendedAction : std::uint8_t {
  kWinBack,
  kRetain,
  kDevelop,
  kReactivate,
  kOnboard,
  kNone
};

// Every action, in the order of the enum.
inline constexpr std::array<RecommendedAction, 6> kRecommendedActions = {
    RecommendedAction::kWinBack,    RecommendedAction::kRetain,  RecommendedAction::kDevelop,
    RecommendedAction::kReactivate, RecommendedAction::kOnboard, RecommendedAction::kNone};

// "WIN_BACK", "RETAIN", "DEVELOP", "REACTIVATE", "ONBOARD" or "NONE".
std::string_view RecommendedActionName(RecommendedAction action);

// The action RecommendedActionName names; nullopt for any other text
// (including "").
std::optional<RecommendedAction> ParseRecommendedAction(std::string_view name);

}  // namespace crm
