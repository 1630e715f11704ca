#pragma once

// Closed sets (enums with one name table each: Segment, RecommendedAction,
// ClockMode, …) share these two walks over their values.

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crm {

// The value of `values` that `name_of` names `name`; nullopt for any other text.
template <typename Enum, std::size_t N, typename NameOf>
std::optional<Enum> ParseByName(const std::array<Enum, N>& values, NameOf name_of,
                                std::string_view name) {
  for (Enum value : values) {
    if (name_of(value) == name) return value;
  }
  return std::nullopt;
}

// The names of every value, in order (for a flag's list of accepted values).
template <typename Enum, std::size_t N, typename NameOf>
std::vector<std::string> NamesOf(const std::array<Enum, N>& values, NameOf name_of) {
  std::vector<std::string> names;
  names.reserve(N);
  for (Enum value : values) names.emplace_back(name_of(value));
  return names;
}

}  // namespace crm
