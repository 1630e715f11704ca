#include "core/validation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "tests/core/test_touchpoints.h"

namespace crm {
namespace {

using testing::Day;
using testing::MakeTouchpoint;
using Type = TouchpointType;

const Timestamp kNow = Day(100);

std::optional<RejectReason> ReasonFor(const Touchpoint& tp, std::string_view key = "c1") {
  auto rejection = ValidateTouchpoint(tp, key, kNow, ValidationLimits{});
  if (!rejection) return std::nullopt;
  EXPECT_FALSE(rejection->detail.empty());
  return rejection->reason;
}

TEST(ValidationTest, AValidTouchpointOfEveryTypePasses) {
  for (int t = 1; t < kTouchpointTypeCount; ++t) {
    EXPECT_EQ(ReasonFor(MakeTouchpoint(static_cast<Type>(t), "e", 1)), std::nullopt) << t;
  }
}

struct Case {
  const char* name;
  std::function<void(Touchpoint&)> spoil;
  RejectReason reason;
};

TEST(ValidationTest, EachProblemIsRejectedWithItsReason) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<Case> cases = {
      {"empty customer", [](Touchpoint& t) { t.customer_id = CustomerId(""); },
       RejectReason::kMissingCustomerId},
      {"empty event id", [](Touchpoint& t) { t.event_id.clear(); }, RejectReason::kMissingEventId},
      {"unspecified type", [](Touchpoint& t) { t.type = Type::kUnspecified; },
       RejectReason::kUnknownEnum},
      {"before 1900", [](Touchpoint& t) { t.occurred_at = FromMicros(-2300000000LL * 1000000); },
       RejectReason::kBadTimestamp},
      {"two days ahead", [](Touchpoint& t) { t.occurred_at = Day(102); },
       RejectReason::kBadTimestamp},
      {"NaN amount", [nan](Touchpoint& t) { t.amount = nan; }, RejectReason::kBadAmount},
      {"infinite amount", [inf](Touchpoint& t) { t.amount = inf; }, RejectReason::kBadAmount},
      {"negative amount", [](Touchpoint& t) { t.amount = -1; }, RejectReason::kBadAmount},
      {"huge amount", [](Touchpoint& t) { t.amount = 2e9; }, RejectReason::kBadAmount},
      {"free purchase", [](Touchpoint& t) { t.amount = 0; }, RejectReason::kBadAmount},
      {"satisfaction 11", [](Touchpoint& t) { t.satisfaction = 11; },
       RejectReason::kBadSatisfaction},
      {"satisfaction -1", [](Touchpoint& t) { t.satisfaction = -1; },
       RejectReason::kBadSatisfaction},
      {"long event id", [](Touchpoint& t) { t.event_id.assign(300, 'x'); },
       RejectReason::kOversized},
      {"long product", [](Touchpoint& t) { t.product.assign(300, 'x'); }, RejectReason::kOversized},
      {"many attributes",
       [](Touchpoint& t) {
         for (int i = 0; i < 65; ++i) t.attributes[std::to_string(i)] = "v";
       },
       RejectReason::kOversized},
      {"long attribute", [](Touchpoint& t) { t.attributes["k"].assign(2000, 'v'); },
       RejectReason::kOversized},
  };
  for (const Case& c : cases) {
    Touchpoint tp = MakeTouchpoint(Type::kPurchase, "e", 1);
    c.spoil(tp);
    EXPECT_EQ(ReasonFor(tp, tp.customer_id.value()), c.reason) << c.name;
  }
}

TEST(ValidationTest, KeyMustBeTheCustomerId) {
  EXPECT_EQ(ReasonFor(MakeTouchpoint(Type::kContact, "e", 1), "c2"), RejectReason::kKeyMismatch);
  EXPECT_EQ(ReasonFor(MakeTouchpoint(Type::kContact, "e", 1), ""), RejectReason::kKeyMismatch);
}

TEST(ValidationTest, SurveyNeedsSatisfactionAndConsentNeedsValueAndChannel) {
  Touchpoint survey = MakeTouchpoint(Type::kSurvey, "e", 1);
  survey.satisfaction.reset();
  EXPECT_EQ(ReasonFor(survey), RejectReason::kBadSatisfaction);
  Touchpoint consent = MakeTouchpoint(Type::kConsent, "e", 1);
  consent.consent_granted.reset();
  EXPECT_EQ(ReasonFor(consent), RejectReason::kMissingConsent);
  consent = MakeTouchpoint(Type::kConsent, "e", 1, Channel::kUnspecified);
  EXPECT_EQ(ReasonFor(consent), RejectReason::kMissingConsent);
}

TEST(ValidationTest, TimestampsUpToADayAheadAreTolerated) {
  Touchpoint tp = MakeTouchpoint(Type::kContact, "e", 100.9);
  EXPECT_EQ(ReasonFor(tp), std::nullopt);
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
}

}  // namespace
}  // namespace crm
