#include "core/recommended_action.h"

#include "core/closed_set.h"

namespace crm {
namespace {

constexpr std::array<std::string_view, kRecommendedActions.size()> kActionNames = {
    "WIN_BACK", "RETAIN", "DEVELOP", "REACTIVATE", "ONBOARD", "NONE"};

}  // namespace

std::string_view RecommendedActionName(RecommendedAction action) {
  return kActionNames[static_cast<std::size_t>(action)];
}

std::optional<RecommendedAction> ParseRecommendedAction(std::string_view name) {
  return ParseByName(kRecommendedActions, RecommendedActionName, name);
}

}  // namespace crm
