#include "core/lifecycle_stage.h"

#include "core/closed_set.h"

namespace crm {
namespace {

constexpr std::array<std::string_view, kLifecycleStages.size()> kStageNames = {
    "PROSPECT", "DEVELOPMENT", "MATURITY", "DECLINE", "LOST"};

}  // namespace

std::string_view LifecycleStageName(LifecycleStage stage) {
  return kStageNames[static_cast<std::size_t>(stage)];
}

std::optional<LifecycleStage> ParseLifecycleStage(std::string_view name) {
  return ParseByName(kLifecycleStages, LifecycleStageName, name);
}

}  // namespace crm
