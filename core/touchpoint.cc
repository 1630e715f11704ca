#include "core/touchpoint.h"

#include <array>

namespace crm {

std::string_view ChannelName(Channel channel) {
  static constexpr std::array<std::string_view, kChannelCount> kNames = {
      "CHANNEL_UNSPECIFIED", "PHONE", "WEB", "MOBILE", "KIOSK", "MAIL", "EMAIL",
      "FACE_TO_FACE",        "FAX",   "SMS"};
  const auto index = static_cast<std::size_t>(channel);
  return index < kNames.size() ? kNames[index] : "UNKNOWN";
}

std::optional<Channel> ParseChannel(std::string_view name) {
  for (int c = 0; c < kChannelCount; ++c) {
    if (ChannelName(static_cast<Channel>(c)) == name) return static_cast<Channel>(c);
  }
  return std::nullopt;
}

std::string_view TouchpointTypeName(TouchpointType type) {
  static constexpr std::array<std::string_view, kTouchpointTypeCount> kNames = {
      "TOUCHPOINT_TYPE_UNSPECIFIED",
      "CONTACT",
      "PURCHASE",
      "RETURN",
      "COMPLAINT",
      "SURVEY",
      "CAMPAIGN_RESPONSE",
      "CONSENT",
      "CANCELLATION",
      "PROFILE",
      "CAMPAIGN_CONTACT"};
  const auto index = static_cast<std::size_t>(type);
  return index < kNames.size() ? kNames[index] : "UNKNOWN";
}

}  // namespace crm
