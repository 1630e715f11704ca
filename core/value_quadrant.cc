#include "core/value_quadrant.h"

#include "core/closed_set.h"

namespace crm {
namespace {

constexpr std::array<std::string_view, kValueQuadrants.size()> kQuadrantNames = {
    "DESIRABLE", "UNDER_DEVELOPED", "MATURE", "UNDESIRABLE"};
constexpr std::array<std::string_view, kValueQuadrants.size()> kStrategies = {
    "RETAIN", "DEVELOP", "RATIONALISE", "ABANDON"};

}  // namespace

std::string_view ValueQuadrantName(ValueQuadrant q) {
  return kQuadrantNames[static_cast<std::size_t>(q)];
}

std::optional<ValueQuadrant> ParseValueQuadrant(std::string_view name) {
  return ParseByName(kValueQuadrants, ValueQuadrantName, name);
}

std::string_view ValueStrategy(ValueQuadrant q) { return kStrategies[static_cast<std::size_t>(q)]; }

}  // namespace crm
