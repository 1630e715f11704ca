// The closed sets of core and their one name table each: every value's name
// parses back to it, and nothing else parses.

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>

#include "core/cleared_reason.h"
#include "core/clock.h"
#include "core/recommended_action.h"
#include "core/scorer.h"
#include "core/segment.h"

namespace crm {
namespace {

template <typename Enum, std::size_t N, typename NameFn, typename ParseFn>
void ExpectRoundTrip(const std::array<Enum, N>& values, NameFn name, ParseFn parse) {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < N; ++i) {
    EXPECT_EQ(static_cast<std::size_t>(values[i]), i) << "listed in the order of the enum";
    EXPECT_TRUE(names.insert(name(values[i])).second) << name(values[i]) << " twice";
    EXPECT_EQ(parse(name(values[i])), values[i]) << name(values[i]);
  }
}

TEST(SegmentTest, EveryNameParsesBack) {
  ExpectRoundTrip(kSegments, SegmentName, ParseSegment);
  EXPECT_EQ(SegmentName(Segment::kNone), "");
  EXPECT_EQ(SegmentName(Segment::kA), "A");
  EXPECT_EQ(SegmentName(Segment::kB), "B");
  EXPECT_EQ(SegmentName(Segment::kC), "C");
}

TEST(SegmentTest, UnknownNamesAreRefused) {
  for (std::string_view name :
       {std::string_view("a"), std::string_view("D"), std::string_view("AB"),
        std::string_view(" A"), std::string_view("-"), std::string_view("NONE"),
        std::string_view("A\0", 2)}) {
    EXPECT_EQ(ParseSegment(name), std::nullopt) << name;
  }
}

TEST(RecommendedActionNameTest, EveryNameParsesBack) {
  ExpectRoundTrip(kRecommendedActions, RecommendedActionName, ParseRecommendedAction);
  EXPECT_EQ(RecommendedActionName(RecommendedAction::kWinBack), "WIN_BACK");
  EXPECT_EQ(RecommendedActionName(RecommendedAction::kRetain), "RETAIN");
  EXPECT_EQ(RecommendedActionName(RecommendedAction::kDevelop), "DEVELOP");
  EXPECT_EQ(RecommendedActionName(RecommendedAction::kNone), "NONE");
}

TEST(RecommendedActionNameTest, UnknownNamesAreRefused) {
  for (std::string_view name : {"", "win_back", "WINBACK", "NONE ", "ABANDON"}) {
    EXPECT_EQ(ParseRecommendedAction(name), std::nullopt) << name;
  }
}

TEST(ClearedReasonTest, EveryNameParsesBack) {
  ExpectRoundTrip(kClearedReasons, ClearedReasonName, ParseClearedReason);
  EXPECT_EQ(ClearedReasonName(ClearedReason::kPurchased), "PURCHASED");
  EXPECT_EQ(ClearedReasonName(ClearedReason::kScoreFell), "SCORE_FELL");
  EXPECT_EQ(ClearedReasonName(ClearedReason::kErased), "ERASED");
}

TEST(ClearedReasonTest, UnknownNamesAreRefused) {
  for (std::string_view name : {"", "purchased", "SCORE FELL", "PURCHASED ", "RAISED"}) {
    EXPECT_EQ(ParseClearedReason(name), std::nullopt) << name;
  }
}

TEST(ValueQuadrantTest, EveryNameParsesBack) {
  ExpectRoundTrip(kValueQuadrants, ValueQuadrantName, ParseValueQuadrant);
  EXPECT_EQ(ValueQuadrantName(ValueQuadrant::kUnderDeveloped), "UNDER_DEVELOPED");
  for (std::string_view name : {"", "desirable", "UNDERDEVELOPED", "RETAIN"}) {
    EXPECT_EQ(ParseValueQuadrant(name), std::nullopt) << name;
  }
}

TEST(LifecycleStageTest, EveryNameParsesBack) {
  ExpectRoundTrip(kLifecycleStages, LifecycleStageName, ParseLifecycleStage);
  EXPECT_EQ(LifecycleStageName(LifecycleStage::kMaturity), "MATURITY");
  EXPECT_EQ(LifecycleStageName(LifecycleStage::kLost), "LOST");
  for (std::string_view name : {"", "prospect", "GONE", "MATURE"}) {
    EXPECT_EQ(ParseLifecycleStage(name), std::nullopt) << name;
  }
}

TEST(ClockModeTest, EveryNameParsesBack) {
  ExpectRoundTrip(kClockModes, ClockModeName, ParseClockMode);
  EXPECT_EQ(ClockModeName(ClockMode::kWall), "wall");
  EXPECT_EQ(ClockModeName(ClockMode::kEvent), "event");
  for (std::string_view name : {"", "WALL", "sundial", "event "}) {
    EXPECT_EQ(ParseClockMode(name), std::nullopt) << name;
  }
}

}  // namespace
}  // namespace crm
