#pragma once

// The value matrix of the course notes: current profitability × potential
// (see QuadrantOf in core/scorer.h). A closed set with one name table: the
// names are what the wire carries.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace crm {

enum class ValueQuadrant : std::uint8_t { kDesirable, kUnderDeveloped, kMature, kUndesirable };

inline constexpr std::array<ValueQuadrant, 4> kValueQuadrants = {
    ValueQuadrant::kDesirable, ValueQuadrant::kUnderDeveloped, ValueQuadrant::kMature,
    ValueQuadrant::kUndesirable};

// "DESIRABLE", "UNDER_DEVELOPED", "MATURE" or "UNDESIRABLE".
std::string_view ValueQuadrantName(ValueQuadrant q);

// The quadrant ValueQuadrantName names; nullopt for any other text.
std::optional<ValueQuadrant> ParseValueQuadrant(std::string_view name);

// The strategy each quadrant implies: RETAIN (desirable), DEVELOP
// (under-developed: cross- and up-sell), RATIONALISE (mature: serve at lower
// cost), ABANDON (undesirable).
std::string_view ValueStrategy(ValueQuadrant q);

}  // namespace crm
