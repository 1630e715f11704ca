#include "core/validation.h"

#include <gtest/gtest.h>

#include <cctype>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/time.h"
#include "core/touchpoint.h"
#include "tests/core/test_touchpoints.h"

namespace crm {
namespace {

using testing::Day;
using testing::MakeTouchpoint;
using Type = TouchpointType;

const Timestamp kNow = Day(100);

// The reason `tp` read under `key` is rejected, or nullopt when it passes.
std::optional<RejectReason> ReasonFor(const Touchpoint& tp, std::string_view key = "c1",
                                      const ValidationLimits& limits = ValidationLimits{}) {
  auto rejection = ValidateTouchpoint(tp, key, kNow, limits);
  if (!rejection) return std::nullopt;
  EXPECT_FALSE(rejection->detail().empty()) << "a rejection explains itself";
  EXPECT_EQ(rejection->detail().find('\n'), std::string::npos) << "the detail is one line";
  return rejection->reason;
}

TEST(ValidationTest, AValidTouchpointOfEachTypePasses) {
  for (int t = 1; t < kTouchpointTypeCount; ++t) {
    const Type type = static_cast<Type>(t);
    Touchpoint tp = MakeTouchpoint(type, "e", 1);
    if (type == Type::kProfile) tp.attributes = {{"city", "Lyon"}};
    if (type != Type::kConsent) tp.product = "P";
    EXPECT_EQ(ReasonFor(tp), std::nullopt) << TouchpointTypeName(type);
  }
}

TEST(ValidationTest, OptionalFieldsMayBeAbsentOnTypesThatDoNotNeedThem) {
  Touchpoint contact = MakeTouchpoint(Type::kContact, "e", 1, Channel::kUnspecified);
  EXPECT_EQ(ReasonFor(contact), std::nullopt);  // no channel, product, amount, score
  contact.satisfaction = 3;                     // a score in range on another type
  contact.amount = 0;
  EXPECT_EQ(ReasonFor(contact), std::nullopt);
}

struct Case {
  const char* name;
  Type type;
  std::function<void(Touchpoint&)> spoil;
  RejectReason reason;
};

TEST(ValidationTest, EachProblemIsRejectedWithItsReason) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const ValidationLimits limits;
  const std::vector<Case> cases = {
      {"empty customer id", Type::kContact, [](Touchpoint& t) { t.customer_id = CustomerId(""); },
       RejectReason::kMissingCustomerId},
      {"empty event id", Type::kContact, [](Touchpoint& t) { t.event_id.clear(); },
       RejectReason::kMissingEventId},
      {"unspecified type", Type::kContact, [](Touchpoint& t) { t.type = Type::kUnspecified; },
       RejectReason::kUnknownEnum},
      {"before min_event_time", Type::kContact,
       [&](Touchpoint& t) { t.occurred_at = limits.min_event_time - Micros(1); },
       RejectReason::kBadTimestamp},
      {"long before 1900", Type::kContact,
       [](Touchpoint& t) { t.occurred_at = FromMicros(-2300000000LL * 1000000); },
       RejectReason::kBadTimestamp},
      {"past now + max_future", Type::kContact,
       [&](Touchpoint& t) { t.occurred_at = kNow + limits.max_future + Micros(1); },
       RejectReason::kBadTimestamp},
      {"NaN amount", Type::kContact, [nan](Touchpoint& t) { t.amount = nan; },
       RejectReason::kBadAmount},
      {"infinite amount", Type::kPurchase, [inf](Touchpoint& t) { t.amount = inf; },
       RejectReason::kBadAmount},
      {"negative infinite amount", Type::kContact, [inf](Touchpoint& t) { t.amount = -inf; },
       RejectReason::kBadAmount},
      {"negative amount", Type::kContact, [](Touchpoint& t) { t.amount = -0.01; },
       RejectReason::kBadAmount},
      {"amount above max_amount", Type::kPurchase,
       [&](Touchpoint& t) { t.amount = limits.max_amount * 1.000001; }, RejectReason::kBadAmount},
      {"satisfaction 11", Type::kSurvey, [](Touchpoint& t) { t.satisfaction = 11; },
       RejectReason::kBadSatisfaction},
      {"satisfaction -1", Type::kSurvey, [](Touchpoint& t) { t.satisfaction = -1; },
       RejectReason::kBadSatisfaction},
      {"satisfaction out of range on a contact", Type::kContact,
       [](Touchpoint& t) { t.satisfaction = 42; }, RejectReason::kBadSatisfaction},
      {"survey without satisfaction", Type::kSurvey, [](Touchpoint& t) { t.satisfaction.reset(); },
       RejectReason::kBadSatisfaction},
      {"consent without consent_granted", Type::kConsent,
       [](Touchpoint& t) { t.consent_granted.reset(); }, RejectReason::kMissingConsent},
      {"consent without channel", Type::kConsent,
       [](Touchpoint& t) { t.channel = Channel::kUnspecified; }, RejectReason::kMissingConsent},
      {"oversized customer id", Type::kContact,
       [&](Touchpoint& t) {
         t.customer_id = CustomerId(std::string(limits.max_id_bytes + 1, 'c'));
       },
       RejectReason::kOversized},
      {"oversized event id", Type::kContact,
       [&](Touchpoint& t) { t.event_id.assign(limits.max_id_bytes + 1, 'x'); },
       RejectReason::kOversized},
      {"oversized product", Type::kPurchase,
       [&](Touchpoint& t) { t.product.assign(limits.max_product_bytes + 1, 'x'); },
       RejectReason::kOversized},
      {"too many attributes", Type::kProfile,
       [&](Touchpoint& t) {
         for (std::size_t i = 0; i <= limits.max_attributes; ++i) {
           t.attributes[std::to_string(i)] = "v";
         }
       },
       RejectReason::kOversized},
      {"oversized attribute value", Type::kProfile,
       [&](Touchpoint& t) { t.attributes["k"].assign(limits.max_attribute_bytes + 1, 'v'); },
       RejectReason::kOversized},
      {"oversized attribute key", Type::kProfile,
       [&](Touchpoint& t) { t.attributes[std::string(limits.max_attribute_bytes + 1, 'k')] = "v"; },
       RejectReason::kOversized},
      {"campaign contact without campaign id", Type::kCampaignContact,
       [](Touchpoint& t) { t.campaign_id.clear(); }, RejectReason::kBadCampaignId},
      {"campaign id on a purchase", Type::kPurchase,
       [](Touchpoint& t) { t.campaign_id = "WINTER-26"; }, RejectReason::kBadCampaignId},
      {"held out on a purchase", Type::kPurchase, [](Touchpoint& t) { t.held_out = true; },
       RejectReason::kBadCampaignId},
      {"oversized campaign id", Type::kCampaignContact,
       [&](Touchpoint& t) { t.campaign_id.assign(limits.max_campaign_id_bytes + 1, 'x'); },
       RejectReason::kOversized},
  };
  for (const Case& c : cases) {
    Touchpoint tp = MakeTouchpoint(c.type, "e", 1);
    c.spoil(tp);
    EXPECT_EQ(ReasonFor(tp, tp.customer_id.value()), c.reason) << c.name;
  }
}

TEST(ValidationTest, ACampaignResponseMayNameItsCampaignOrNot) {
  Touchpoint response = MakeTouchpoint(Type::kCampaignResponse, "e", 1);
  EXPECT_EQ(ReasonFor(response), std::nullopt);
  response.campaign_id = "0123456789abcdef-2";  // the alert it answers
  EXPECT_EQ(ReasonFor(response), std::nullopt);
}

// Free goods are sold and returned too: the CDNOW log has purchases of $0.00.
TEST(ValidationTest, PurchasesAndReturnsOfZeroValuePass) {
  for (Type type : {Type::kPurchase, Type::kReturn}) {
    Touchpoint tp = MakeTouchpoint(type, "e", 1);
    tp.amount = 0;
    EXPECT_EQ(ValidateTouchpoint(tp, "c1", kNow, ValidationLimits{}), std::nullopt)
        << TouchpointTypeName(type);
  }
}

TEST(ValidationTest, KeyMustBeTheCustomerId) {
  EXPECT_EQ(ReasonFor(MakeTouchpoint(Type::kContact, "e", 1), "c2"), RejectReason::kKeyMismatch);
  EXPECT_EQ(ReasonFor(MakeTouchpoint(Type::kContact, "e", 1), ""), RejectReason::kKeyMismatch);
  EXPECT_EQ(ReasonFor(MakeTouchpoint(Type::kContact, "e", 1), "c1 "), RejectReason::kKeyMismatch);
}

TEST(ValidationTest, LimitsAreInclusive) {
  const ValidationLimits limits;
  Touchpoint tp = MakeTouchpoint(Type::kPurchase, std::string(limits.max_id_bytes, 'e'), 1);
  tp.customer_id = CustomerId(std::string(limits.max_id_bytes, 'c'));
  tp.product.assign(limits.max_product_bytes, 'p');
  tp.amount = limits.max_amount;
  for (std::size_t i = 0; i + 1 < limits.max_attributes; ++i) tp.attributes[std::to_string(i)] = "";
  tp.attributes[std::string(limits.max_attribute_bytes, 'k')] =
      std::string(limits.max_attribute_bytes, 'v');
  ASSERT_EQ(tp.attributes.size(), limits.max_attributes);
  EXPECT_EQ(ReasonFor(tp, tp.customer_id.value()), std::nullopt);

  tp.occurred_at = limits.min_event_time;
  EXPECT_EQ(ReasonFor(tp, tp.customer_id.value()), std::nullopt);
  tp.occurred_at = kNow + limits.max_future;  // the tolerated skew ahead of now
  EXPECT_EQ(ReasonFor(tp, tp.customer_id.value()), std::nullopt);

  Touchpoint survey = MakeTouchpoint(Type::kSurvey, "e", 1);
  for (int score : {0, 10}) {
    survey.satisfaction = score;
    EXPECT_EQ(ReasonFor(survey), std::nullopt) << score;
  }
}

TEST(ValidationTest, LimitsComeFromTheOptions) {
  ValidationLimits strict;
  strict.max_id_bytes = 4;
  strict.max_amount = 100;
  strict.max_future = Micros(0);
  Touchpoint tp = MakeTouchpoint(Type::kPurchase, "e", 1);
  EXPECT_EQ(ReasonFor(tp, "c1", strict), std::nullopt);
  tp.event_id = "12345";
  EXPECT_EQ(ReasonFor(tp, "c1", strict), RejectReason::kOversized);
  tp.event_id = "e";
  tp.amount = 101;
  EXPECT_EQ(ReasonFor(tp, "c1", strict), RejectReason::kBadAmount);
  tp.amount = 10;
  tp.occurred_at = kNow + Micros(1);
  EXPECT_EQ(ReasonFor(tp, "c1", strict), RejectReason::kBadTimestamp);
}

TEST(ValidationTest, TheFirstProblemFoundIsReported) {
  Touchpoint tp = MakeTouchpoint(Type::kPurchase, "", 1);  // no event id…
  tp.amount = -1;                                          // …and a bad amount
  EXPECT_EQ(ReasonFor(tp), RejectReason::kMissingEventId);
  tp.customer_id = CustomerId("");  // the customer id is checked before all else
  EXPECT_EQ(ReasonFor(tp, ""), RejectReason::kMissingCustomerId);
}

// The changelog's own records (core/changelog.h) have keys starting with NUL.
TEST(ValidationTest, ACustomerIdStartingWithNulIsMalformed) {
  Touchpoint tp = MakeTouchpoint(Type::kPurchase, "e", 1);
  tp.customer_id = CustomerId(std::string("\0fence/1", 8));
  EXPECT_EQ(ReasonFor(tp, tp.customer_id.value()), RejectReason::kMalformed);
  tp.customer_id = CustomerId(std::string("a\0b", 3));  // elsewhere, a NUL is a byte like others
  EXPECT_EQ(ReasonFor(tp, tp.customer_id.value()), std::nullopt);
}

// ApplyTouchpoint indexes CustomerState::channels by the channel and REQUIRES
// a validated touchpoint; RejectReason::kUnknownEnum covers "channel or type
// unknown".
TEST(ValidationTest, ChannelOrTypeOutsideTheEnumIsUnknownEnum) {
  Touchpoint bad_channel = MakeTouchpoint(Type::kContact, "e", 1);
  bad_channel.channel = static_cast<Channel>(42);
  EXPECT_EQ(ReasonFor(bad_channel), RejectReason::kUnknownEnum);
  Touchpoint bad_type = MakeTouchpoint(Type::kContact, "e", 1);
  bad_type.type = static_cast<Type>(42);
  EXPECT_EQ(ReasonFor(bad_type), RejectReason::kUnknownEnum);
}

TEST(ValidationTest, ReasonNamesAreStable) {
  EXPECT_EQ(RejectReasonName(RejectReason::kMalformed), "malformed");
  EXPECT_EQ(RejectReasonName(RejectReason::kMissingCustomerId), "missing_customer_id");
  EXPECT_EQ(RejectReasonName(RejectReason::kKeyMismatch), "key_mismatch");
  EXPECT_EQ(RejectReasonName(RejectReason::kMissingEventId), "missing_event_id");
  EXPECT_EQ(RejectReasonName(RejectReason::kBadTimestamp), "bad_timestamp");
  EXPECT_EQ(RejectReasonName(RejectReason::kUnknownEnum), "unknown_enum");
  EXPECT_EQ(RejectReasonName(RejectReason::kBadAmount), "bad_amount");
  EXPECT_EQ(RejectReasonName(RejectReason::kBadSatisfaction), "bad_satisfaction");
  EXPECT_EQ(RejectReasonName(RejectReason::kMissingConsent), "missing_consent");
  EXPECT_EQ(RejectReasonName(RejectReason::kOversized), "oversized");
  EXPECT_EQ(RejectReasonName(RejectReason::kStateTooLarge), "state_too_large");
  EXPECT_EQ(RejectReasonName(RejectReason::kBadCampaignId), "bad_campaign_id");
}

TEST(ValidationTest, ReasonNamesAreDistinctSnakeCaseMetricLabels) {
  std::set<std::string_view> seen;
  for (int r = 0; r < kRejectReasonCount; ++r) {
    const std::string_view name = RejectReasonName(static_cast<RejectReason>(r));
    EXPECT_TRUE(seen.insert(name).second) << name;
    ASSERT_FALSE(name.empty()) << r;
    EXPECT_TRUE(std::islower(static_cast<unsigned char>(name.front()))) << name;
    for (char c : name) {
      EXPECT_TRUE(std::islower(static_cast<unsigned char>(c)) || c == '_') << name;
    }
  }
}

}  // namespace
}  // namespace crm
