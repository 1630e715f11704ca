// Round-trip properties of the state encoding, over states drawn at random
// (seeded: a failure names its seed and draw, and comes back the same):
// whatever a state holds within its limits, decoding its bytes gives it back
// field by field, encoding that again gives the same bytes, the next look read
// alone is the decoded one, and no prefix of the bytes crashes the decoder.

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "core/customer_state.h"
#include "core/follow_up.h"
#include "core/recommended_action.h"
#include "core/segment.h"
#include "core/time.h"
#include "services/codec/state_codec.h"
#include "tests/core/expect_same_state.h"

namespace crm {
namespace {

constexpr std::uint64_t kSeed = 20261205;
constexpr int kDraws = 3000;

// Draws the parts of a state. Times span the epoch on both sides, up to
// about 2100; texts are UTF-8 of any length up to a dozen characters, empty
// included.
class Draw {
 public:
  explicit Draw(std::uint64_t seed) : random_(seed) {}

  bool Coin() { return Below(2) == 0; }
  std::uint64_t Below(std::uint64_t n) {
    return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(random_);
  }
  std::uint64_t Count() {
    // Small counts mostly, the whole range now and then.
    return Below(8) == 0 ? random_() : Below(1000);
  }
  double Fraction() { return std::uniform_real_distribution<double>(0, 1)(random_); }
  double Amount() { return Coin() ? 0.0 : Fraction() * 1e6; }
  Timestamp Time() {
    return FromMicros(std::uniform_int_distribution<std::int64_t>(-2'000'000'000'000'000,
                                                                  4'100'000'000'000'000)(random_));
  }
  std::optional<Timestamp> MaybeTime() {
    if (Coin()) return std::nullopt;
    return Time();
  }
  std::vector<Timestamp> Times(std::size_t limit) {
    std::vector<Timestamp> times(Below(limit + 1));
    for (Timestamp& t : times) t = Time();
    return times;
  }
  std::string Text() {
    // Characters of one to four bytes, NUL included: what the input's
    // protobuf strings (UTF-8, checked as they are parsed) can bring.
    static constexpr std::array<std::string_view, 8> kCharacters = {
        "a", "Z", "7", std::string_view("\0", 1), "\xC3\xA2", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
        " "};
    std::string text;
    for (std::uint64_t i = Below(12); i > 0; --i) text += kCharacters[Below(kCharacters.size())];
    return text;
  }
  template <typename Enum, std::size_t N>
  Enum OneOf(const std::array<Enum, N>& values) {
    return values[Below(N)];
  }

 private:
  std::mt19937_64 random_;
};

ChannelStats RandomChannel(Draw& draw) {
  ChannelStats stats;
  if (draw.Below(3) == 0) return stats;  // never used
  if (draw.Coin()) {
    stats.contacts = draw.Count() + 1;
    stats.last_contact = draw.Time();
    stats.recent_activity = draw.Amount();
    stats.usual_activity = draw.Amount();
  }
  if (draw.Coin()) {
    stats.consent = draw.Coin();  // a refusal as often as a consent
    stats.consent_at = draw.Time();
  }
  return stats;
}

AlertFollowUp RandomFollowUp(Draw& draw) {
  AlertFollowUp follow_up{.number = draw.Count(),
                          .raised_at = draw.Time(),
                          .control = draw.Coin(),
                          .action = draw.OneOf(kRecommendedActions),
                          .segment = draw.OneOf(kSegments),
                          .contacts = static_cast<std::uint32_t>(draw.Below(100)),
                          .recovered_at = draw.MaybeTime(),
                          .revenue = draw.Amount()};
  if (draw.Coin()) {
    follow_up.campaign_id = draw.Text();
    follow_up.number = OfferNumber(follow_up.campaign_id);
    follow_up.product = draw.Text();
  }
  return follow_up;
}

AlertState RandomAlert(Draw& draw) {
  AlertState alert;
  alert.open = draw.Coin();
  alert.raised = draw.Count();
  alert.raised_at = draw.MaybeTime();
  alert.last_churn = draw.Fraction();
  alert.last_segment = draw.OneOf(kSegments);
  alert.looked_at = draw.MaybeTime();
  alert.next_look = draw.MaybeTime();
  if (draw.Coin()) alert.indexed_churn = draw.Fraction();
  alert.control = draw.Coin();
  for (std::uint64_t i = draw.Below(kMaxFollowUps + 1); i > 0; --i) {
    alert.follow_ups.push_back(RandomFollowUp(draw));
  }
  for (std::uint64_t i = draw.Below(6); i > 0; --i) {
    // The ends of 0-1 are values too.
    const std::uint64_t end = draw.Below(4);
    alert.indexed_appetence[draw.Text()] = end < 2 ? static_cast<double>(end) : draw.Fraction();
  }
  return alert;
}

CustomerState RandomState(Draw& draw, const StateLimits& limits) {
  CustomerState s;
  s.partition = draw.Coin() ? -1 : static_cast<std::int32_t>(draw.Below(256));
  s.events_applied = draw.Count();
  s.first_seen = draw.MaybeTime();
  s.last_seen = draw.MaybeTime();
  s.first_purchase = draw.MaybeTime();
  s.last_purchase = draw.MaybeTime();
  s.purchases = draw.Count();
  std::int32_t day = static_cast<std::int32_t>(draw.Below(40'000)) - 10'000;
  for (std::uint64_t i = draw.Below(30); i > 0; --i) {
    s.purchase_days.push_back(day);  // distinct, ascending
    day += static_cast<std::int32_t>(draw.Below(400)) + 1;
  }
  s.purchase_amount = draw.Amount();
  s.first_day_amount = draw.Amount();
  s.returns = draw.Count();
  s.return_amount = draw.Amount();
  s.complaints = draw.Count();
  s.recent_complaints = draw.Times(limits.recent_complaints);
  s.surveys = draw.Count();
  for (std::uint64_t i = draw.Below(limits.recent_satisfaction + 1); i > 0; --i) {
    s.recent_satisfaction.push_back({draw.Time(), static_cast<std::int32_t>(draw.Below(11))});
  }
  s.cancellations = draw.Count();
  s.last_cancellation = draw.MaybeTime();
  s.campaign_responses = draw.Count();
  s.campaign_contacts = draw.Count();
  s.recent_campaign_contacts = draw.Times(limits.recent_campaign_contacts);
  for (ChannelStats& channel : s.channels) channel = RandomChannel(draw);
  for (std::uint64_t i = draw.Below(8); i > 0; --i) {
    s.products[draw.Text()] = ProductStats{draw.Count(), draw.Count(), draw.Count(),
                                           draw.Count(), draw.Time(),  draw.MaybeTime()};
  }
  for (std::uint64_t i = draw.Below(8); i > 0; --i) {
    s.profile[draw.Text()] = ProfileField{draw.Text(), draw.Time()};
  }
  s.alert = RandomAlert(draw);
  const std::size_t capacity = draw.Below(limits.dedup_window) + 1;
  for (std::uint64_t i = draw.Below(2 * capacity + 1); i > 0; --i) {
    s.recent_events.Insert(draw.Count(), capacity);
  }
  return s;
}

TEST(StateCodecPropertyTest, EveryStateDrawnRoundTripsToTheSameStateAndBytes) {
  Draw draw(kSeed);
  const StateLimits limits;
  for (int i = 0; i < kDraws; ++i) {
    SCOPED_TRACE("seed " + std::to_string(kSeed) + ", draw " + std::to_string(i));
    const CustomerState state = RandomState(draw, limits);
    const std::string bytes = EncodeState(state);

    absl::StatusOr<CustomerState> decoded = DecodeState(bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    testing::ExpectSameState(state, *decoded);
    EXPECT_EQ(EncodeState(*decoded), bytes);

    absl::StatusOr<std::optional<Timestamp>> next_look = NextLookOf(bytes);
    ASSERT_TRUE(next_look.ok()) << next_look.status();
    EXPECT_EQ(*next_look, state.alert.next_look);
    if (::testing::Test::HasFailure()) return;  // one draw's differences, not thousands
  }
}

TEST(StateCodecPropertyTest, NoPrefixOfAStateCrashesTheDecoder) {
  Draw draw(kSeed + 1);
  const StateLimits limits;
  for (int i = 0; i < 100; ++i) {
    SCOPED_TRACE("seed " + std::to_string(kSeed + 1) + ", draw " + std::to_string(i));
    const std::string bytes = EncodeState(RandomState(draw, limits));
    for (std::size_t length = 0; length < bytes.size(); ++length) {
      const std::string_view prefix(bytes.data(), length);
      // A prefix may happen to be a whole record (one that ends at a field's
      // end); otherwise it is data loss, said so, never a crash.
      absl::StatusOr<CustomerState> decoded = DecodeState(prefix);
      if (!decoded.ok()) {
        ASSERT_TRUE(absl::IsDataLoss(decoded.status())) << decoded.status();
      }
      absl::StatusOr<std::optional<Timestamp>> next_look = NextLookOf(prefix);
      if (!next_look.ok()) {
        ASSERT_TRUE(absl::IsDataLoss(next_look.status())) << next_look.status();
      }
    }
  }
}

}  // namespace
}  // namespace crm
