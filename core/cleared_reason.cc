#include "core/cleared_reason.h"

#include "core/closed_set.h"

namespace crm {
namespace {

constexpr std::array<std::string_view, kClearedReasons.size()> kReasonNames = {
    "PURCHASED", "SCORE_FELL", "ERASED"};

}  // namespace

std::string_view ClearedReasonName(ClearedReason reason) {
  return kReasonNames[static_cast<std::size_t>(reason)];
}

std::optional<ClearedReason> ParseClearedReason(std::string_view name) {
  return ParseByName(kClearedReasons, ClearedReasonName, name);
}

}  // namespace crm
