#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/customer_id.h"
#include "core/time.h"

namespace crm {

// Numbering matches crm.v1.Channel; kUnspecified is never stored as a channel.
enum class Channel : std::uint8_t {
  kUnspecified = 0,
  kPhone = 1,
  kWeb = 2,
  kMobile = 3,
  kKiosk = 4,
  kMail = 5,
  kEmail = 6,
  kFaceToFace = 7,
  kFax = 8,
  kSms = 9,
};
inline constexpr int kChannelCount = 10;  // including kUnspecified

// Numbering matches crm.v1.TouchpointType.
enum class TouchpointType : std::uint8_t {
  kUnspecified = 0,
  kContact = 1,
  kPurchase = 2,
  kReturn = 3,
  kComplaint = 4,
  kSurvey = 5,
  kCampaignResponse = 6,
  kConsent = 7,
  kCancellation = 8,
  kProfile = 9,
  kCampaignContact = 10,
};
inline constexpr int kTouchpointTypeCount = 11;

std::string_view ChannelName(Channel channel);  // "PHONE", …
// The channel ChannelName names (kUnspecified for "CHANNEL_UNSPECIFIED");
// nullopt for any other text.
std::optional<Channel> ParseChannel(std::string_view name);
std::string_view TouchpointTypeName(TouchpointType t);  // "PURCHASE", …

// One customer touchpoint, decoded from the wire at the service's edge.
struct Touchpoint {
  std::string event_id;
  CustomerId customer_id;
  Timestamp occurred_at{};
  Channel channel = Channel::kUnspecified;
  TouchpointType type = TouchpointType::kUnspecified;
  double amount = 0;
  std::string product;
  std::optional<std::int32_t> satisfaction;
  std::optional<bool> consent_granted;
  std::map<std::string, std::string> attributes;
  // On kCampaignContact and kCampaignResponse: the campaign or alert_id.
  std::string campaign_id;
  // On kCampaignContact: not made, the customer being in the campaign's
  // control group (an offer campaign's hold-out).
  bool held_out = false;
};

}  // namespace crm
