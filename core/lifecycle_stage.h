#pragma once

// Where a customer is in their life with the business (course notes: prospect,
// development, maturity, decline), and LOST: gone, as the purchase model holds
// (see Lifecycle in core/scorer.h). A closed set with one name table: the names
// are what the wire carries.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace crm {

// kDecline: leaving (silent for longer than their rhythm); kLost: held gone
// by the purchase model.
enum class LifecycleStage : std::uint8_t { kProspect, kDevelopment, kMaturity, kDecline, kLost };

inline constexpr std::array<LifecycleStage, 5> kLifecycleStages = {
    LifecycleStage::kProspect, LifecycleStage::kDevelopment, LifecycleStage::kMaturity,
    LifecycleStage::kDecline, LifecycleStage::kLost};

// "PROSPECT", "DEVELOPMENT", "MATURITY", "DECLINE" or "LOST".
std::string_view LifecycleStageName(LifecycleStage stage);

// The stage LifecycleStageName names; nullopt for any other text.
std::optional<LifecycleStage> ParseLifecycleStage(std::string_view name);

}  // namespace crm
