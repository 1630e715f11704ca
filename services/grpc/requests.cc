#include "services/grpc/requests.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include "core/bounded_text.h"
#include "core/recommended_action.h"
#include "core/segment.h"
#include "core/value_quadrant.h"

namespace crm {
namespace {

// 1900-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
constexpr std::int64_t kMinAsOfSeconds = -2'208'988'800LL;
constexpr std::int64_t kMaxAsOfSeconds = 253'402'300'799LL;

absl::Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

// "A, B or C": a closed set's names, for an error message.
template <typename Enum, std::size_t N, typename NameOf>
std::string NameList(const std::array<Enum, N>& values, NameOf name_of) {
  std::string list;
  for (std::size_t i = 0; i < N; ++i) {
    if (i > 0) list += i + 1 == N ? " or " : ", ";
    list += name_of(values[i]);
  }
  return list;
}

// A code in `field` (a product, a campaign): at most `max_bytes` of UTF-8.
absl::Status ValidateCode(std::string_view field, std::string_view code, std::size_t max_bytes) {
  const std::string name(field);
  if (code.size() > max_bytes) {
    return Invalid(name + " is " + std::to_string(code.size()) + " bytes long, at most " +
                   std::to_string(max_bytes) + " are accepted: " + Quoted(code));
  }
  if (!IsUtf8(code)) return Invalid(name + " is not valid UTF-8: " + Quoted(code));
  return absl::OkStatus();
}

// An offer campaign's code: at most kMaxCampaignIdBytes of UTF-8 (empty: none).
absl::Status ValidateCampaignId(std::string_view campaign_id) {
  return ValidateCode("campaign_id", campaign_id, kMaxCampaignIdBytes);
}

absl::Status ValidateActionFilter(std::string_view action) {
  if (action.empty() || ParseRecommendedAction(action)) return absl::OkStatus();
  return Invalid("action " + Quoted(action) +
                 " is unknown: " + NameList(kRecommendedActions, RecommendedActionName) +
                 ", or empty (every action)");
}

}  // namespace

std::string Quoted(std::string_view text, std::size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  std::size_t shown = 0;
  while (shown < text.size()) {
    const std::string_view rest = text.substr(shown);
    std::size_t length = Utf8Length(rest);
    if (shown + std::max<std::size_t>(length, 1) > max_bytes) break;
    const unsigned char c = static_cast<unsigned char>(rest[0]);
    if (length == 0) {  // not UTF-8: the byte, escaped
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
      length = 1;
    } else if (length > 1) {
      if (const char32_t code = Utf8CodePoint(rest, length); IsUnprintable(code)) {
        out += "\\u";
        for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(code >> shift) & 0xF];
      } else {
        out.append(rest.substr(0, length));
      }
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += static_cast<char>(c);
    }
    shown += length;
  }
  out += '"';
  if (shown < text.size()) out += "… (" + std::to_string(text.size()) + " bytes)";
  return out;
}

absl::Status ValidateCustomerId(std::string_view id, std::string_view field) {
  if (id.empty()) return Invalid(std::string(field) + " is empty");
  return ValidateCode(field, id, kMaxCustomerIdBytes);
}

absl::Status ValidateAsOf(const google::protobuf::Timestamp& as_of, std::string_view field) {
  const std::string name(field);
  if (as_of.seconds() < kMinAsOfSeconds || as_of.seconds() > kMaxAsOfSeconds) {
    return Invalid(name + " (" + std::to_string(as_of.seconds()) +
                   " s) is outside the years 1900-9999");
  }
  if (as_of.nanos() < 0 || as_of.nanos() > 999'999'999) {
    return Invalid(name + ".nanos (" + std::to_string(as_of.nanos()) + ") is outside [0, 1e9)");
  }
  return absl::OkStatus();
}

absl::Status ValidateSegmentFilter(std::string_view segment) {
  if (ParseSegment(segment)) return absl::OkStatus();
  return Invalid("segment " + Quoted(segment) + " is unknown: A, B, C or empty (every segment)");
}

absl::Status Validate(const v1::GetCustomerScoresRequest& request) {
  if (absl::Status id = ValidateCustomerId(request.customer_id()); !id.ok()) return id;
  if (request.has_as_of()) return ValidateAsOf(request.as_of());
  return absl::OkStatus();
}

absl::Status Validate(const v1::BatchGetCustomerScoresRequest& request) {
  if (request.customer_ids_size() > kMaxBatchIds) {
    return Invalid("at most " + std::to_string(kMaxBatchIds) + " customer_ids per call, not " +
                   std::to_string(request.customer_ids_size()));
  }
  for (int i = 0; i < request.customer_ids_size(); ++i) {
    if (absl::Status id =
            ValidateCustomerId(request.customer_ids(i), "customer_ids[" + std::to_string(i) + "]");
        !id.ok()) {
      return id;
    }
  }
  if (request.has_as_of()) return ValidateAsOf(request.as_of());
  return absl::OkStatus();
}

absl::Status Validate(const v1::GetCustomerStateRequest& request) {
  return ValidateCustomerId(request.customer_id());
}

absl::Status Validate(const v1::ListAtRiskCustomersRequest& request) {
  if (request.top_n() > kMaxTopN) {
    return Invalid("top_n is at most " + std::to_string(kMaxTopN) + ", not " +
                   std::to_string(request.top_n()));
  }
  if (absl::Status segment = ValidateSegmentFilter(request.segment()); !segment.ok()) {
    return segment;
  }
  if (!v1::AtRiskOrder_IsValid(request.order_by())) {
    return Invalid("order_by " + std::to_string(request.order_by()) +
                   " is unknown: AT_RISK_ORDER_CHURN or AT_RISK_ORDER_VALUE_AT_RISK");
  }
  if (!request.value_quadrant().empty() && !ParseValueQuadrant(request.value_quadrant())) {
    return Invalid("value_quadrant " + Quoted(request.value_quadrant()) + " is unknown: " +
                   NameList(kValueQuadrants, ValueQuadrantName) + ", or empty (every quadrant)");
  }
  return ValidateActionFilter(request.action());
}

absl::Status Validate(const v1::ListOfferTargetsRequest& request) {
  const std::string& product = request.product();
  if (product.empty()) return Invalid("product is empty");
  if (absl::Status code = ValidateCode("product", product, kMaxProductBytes); !code.ok()) {
    return code;
  }
  if (request.top_n() == 0 || request.top_n() > kMaxTopN) {
    return Invalid("top_n must be 1-" + std::to_string(kMaxTopN) + ", not " +
                   std::to_string(request.top_n()));
  }
  if (absl::Status segment = ValidateSegmentFilter(request.segment()); !segment.ok()) {
    return segment;
  }
  if (!v1::Channel_IsValid(request.channel())) {
    return Invalid("channel " + std::to_string(request.channel()) +
                   " is unknown: a crm.v1.Channel, or unset (any customer)");
  }
  return ValidateCampaignId(request.campaign_id());
}

absl::Status Validate(const v1::WatchAlertsRequest& request) {
  if (!(request.min_churn() >= 0 && request.min_churn() <= 1)) {
    return Invalid("min_churn must be in [0, 1]");
  }
  if (absl::Status segment = ValidateSegmentFilter(request.segment()); !segment.ok()) {
    return segment;
  }
  return ValidateActionFilter(request.action());
}

absl::Status Validate(const v1::GetAlertOutcomesRequest& request) {
  if (request.has_since()) {
    if (absl::Status since = ValidateAsOf(request.since(), "since"); !since.ok()) return since;
  }
  if (request.has_until()) {
    if (absl::Status until = ValidateAsOf(request.until(), "until"); !until.ok()) return until;
  }
  if (request.has_since() && request.has_until() &&
      std::make_pair(request.since().seconds(), request.since().nanos()) >=
          std::make_pair(request.until().seconds(), request.until().nanos())) {
    return Invalid("since must be before until (alerts raised in [since, until) are summed)");
  }
  if (absl::Status segment = ValidateSegmentFilter(request.segment()); !segment.ok()) {
    return segment;
  }
  if (absl::Status campaign = ValidateCampaignId(request.campaign_id()); !campaign.ok()) {
    return campaign;
  }
  if (!request.campaign_id().empty() && (!request.action().empty() || !request.segment().empty())) {
    return Invalid("action and segment do not apply to an offer campaign's outcomes (campaign_id)");
  }
  return ValidateActionFilter(request.action());
}

absl::Status Validate(const v1::EraseCustomerRequest& request) {
  return ValidateCustomerId(request.customer_id());
}

}  // namespace crm
