#include "core/customer_state.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

namespace crm {
namespace {

void KeepMin(std::optional<Timestamp>& slot, Timestamp t) {
  if (!slot || t < *slot) slot = t;
}
void KeepMax(std::optional<Timestamp>& slot, Timestamp t) {
  if (!slot || t > *slot) slot = t;
}

// Inserts `value` into `latest_first` (ordered by `at`, latest first) and trims
// to `capacity`. Equal times keep arrival order: the newer arrival goes first.
template <typename T, typename AtFn>
void InsertLatestFirst(std::vector<T>& latest_first, T value, std::size_t capacity, AtFn at) {
  auto pos = std::find_if(latest_first.begin(), latest_first.end(),
                          [&](const T& existing) { return at(existing) <= at(value); });
  latest_first.insert(pos, std::move(value));
  if (latest_first.size() > capacity) latest_first.resize(capacity);
}

ProductStats* TrackProduct(CustomerState& state, const std::string& product, Timestamp at,
                           std::size_t max_products) {
  if (product.empty() || max_products == 0) return nullptr;
  auto it = state.products.find(product);
  if (it == state.products.end()) {
    if (state.products.size() >= max_products) {
      auto oldest = std::min_element(
          state.products.begin(), state.products.end(),
          [](const auto& a, const auto& b) { return a.second.last_at < b.second.last_at; });
      if (oldest->second.last_at > at) return nullptr;  // older than all we keep
      state.products.erase(oldest);
    }
    it = state.products.emplace(product, ProductStats{}).first;
    it->second.last_at = at;
  }
  it->second.last_at = std::max(it->second.last_at, at);
  return &it->second;
}

// Adds one contact at `at` to a counter fading with `mean_life_days`, kept as
// of the latest contact: `previous_last` before this one, max(at, previous_last) after.
void AddActivity(double& counter, Timestamp at, std::optional<Timestamp> previous_last,
                 double mean_life_days) {
  if (!previous_last || at >= *previous_last) {
    const double elapsed = previous_last ? DaysBetween(*previous_last, at) : 0;
    counter = counter * std::exp(-elapsed / mean_life_days) + 1;
  } else {
    counter += std::exp(-DaysBetween(at, *previous_last) / mean_life_days);
  }
}

// The customer's own activity on a channel: not a consent or profile
// statement, nor a contact the company made.
bool CountsAsChannelActivity(TouchpointType type) {
  return type != TouchpointType::kConsent && type != TouchpointType::kProfile &&
         type != TouchpointType::kCampaignContact;
}

}  // namespace

bool DedupWindow::Contains(std::uint64_t hash) const {
  return std::find(ring_.begin(), ring_.end(), hash) != ring_.end();
}

void DedupWindow::Insert(std::uint64_t hash, std::size_t capacity) {
  if (capacity == 0) return;
  if (ring_.size() != capacity && next_ != ring_.size() && !ring_.empty()) {
    // The capacity changed after the ring wrapped: put it back in age order
    // (oldest first) so that growing or shrinking forgets the oldest ids.
    std::rotate(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(next_ % ring_.size()),
                ring_.end());
    next_ = ring_.size();
  }
  if (ring_.size() > capacity) {  // capacity was lowered: keep the newest
    ring_.erase(ring_.begin(), ring_.end() - static_cast<std::ptrdiff_t>(capacity));
    next_ = 0;
  }
  if (ring_.size() < capacity) {
    ring_.push_back(hash);
    next_ = ring_.size() % capacity;
    return;
  }
  // Full: a ring lowered to exactly its size before it wrapped has next_ at
  // its end, where the oldest is at 0.
  if (next_ >= capacity) next_ = 0;
  ring_[next_] = hash;
  next_ = (next_ + 1) % capacity;
}

void DedupWindow::Restore(std::vector<std::uint64_t> ring, std::size_t next) {
  ring_ = std::move(ring);
  // While the ring fills, next_ is its size; a value past that is not ours.
  next_ = next <= ring_.size() ? next : 0;
}

std::uint64_t EventIdHash(std::string_view event_id) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : event_id) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

namespace {

// Per map node: the red-black tree's colour and three links, and the
// allocator's header.
constexpr std::size_t kMapNodeOverheadBytes = 32 + 16;

// What a std::string keeps on the heap (libstdc++: 15 bytes inline).
std::size_t HeapBytes(const std::string& text) { return text.size() > 15 ? text.size() + 1 : 0; }

// The most that applying `tp` can add to StateBytes: a new map node for its
// product and for each attribute, their strings, an offer campaign's
// follow-up, and a few bytes for a purchase day, a complaint time, a
// satisfaction sample and an event id.
std::size_t GrowthBound(const Touchpoint& tp) {
  std::size_t bound = 64;
  if (!tp.product.empty()) {
    bound += kMapNodeOverheadBytes + sizeof(std::pair<const std::string, ProductStats>) +
             HeapBytes(tp.product);
  }
  if (tp.type == TouchpointType::kProfile) {
    for (const auto& [key, value] : tp.attributes) {
      bound += kMapNodeOverheadBytes + sizeof(std::pair<const std::string, ProfileField>) +
               HeapBytes(key) + HeapBytes(value);
    }
  }
  if (tp.type == TouchpointType::kCampaignContact && !tp.product.empty()) {
    // An offer campaign's follow-up, which FollowUp may start.
    bound += sizeof(AlertFollowUp) + HeapBytes(tp.campaign_id) + HeapBytes(tp.product);
  }
  return bound;
}

void ApplyPurchase(const Touchpoint& tp, const StateLimits& limits, CustomerState& state) {
  const Timestamp at = tp.occurred_at;
  ++state.purchases;
  state.purchase_amount += tp.amount;
  const std::int32_t day = DayNumber(at);
  if (state.purchase_days.empty() || day < state.purchase_days.front()) {
    state.first_day_amount = tp.amount;  // the former first day is now a repeat one
  } else if (day == state.purchase_days.front()) {
    state.first_day_amount += tp.amount;
  }
  KeepMin(state.first_purchase, at);
  KeepMax(state.last_purchase, at);
  auto pos = std::lower_bound(state.purchase_days.begin(), state.purchase_days.end(), day);
  if (pos == state.purchase_days.end() || *pos != day) state.purchase_days.insert(pos, day);
  if (ProductStats* p = TrackProduct(state, tp.product, at, limits.max_products)) ++p->purchases;
}

void ApplyProfile(const Touchpoint& tp, const StateLimits& limits, CustomerState& state) {
  for (const auto& [key, value] : tp.attributes) {
    auto it = state.profile.find(key);
    if (it == state.profile.end()) {
      if (state.profile.size() >= limits.max_profile_fields) continue;
      state.profile.emplace(key, ProfileField{value, tp.occurred_at});
    } else if (tp.occurred_at >= it->second.at) {
      it->second = ProfileField{value, tp.occurred_at};
    }
  }
}

ApplyOutcome ApplyUnbounded(const Touchpoint& tp, const StateLimits& limits, CustomerState& state) {
  const std::uint64_t id_hash = EventIdHash(tp.event_id);
  if (state.recent_events.Contains(id_hash)) return ApplyOutcome::kDuplicate;
  state.recent_events.Insert(id_hash, limits.dedup_window);

  const Timestamp at = tp.occurred_at;
  ++state.events_applied;
  KeepMin(state.first_seen, at);
  KeepMax(state.last_seen, at);

  if (tp.channel != Channel::kUnspecified && CountsAsChannelActivity(tp.type)) {
    ChannelStats& channel = state.channels[static_cast<int>(tp.channel)];
    ++channel.contacts;
    AddActivity(channel.recent_activity, at, channel.last_contact, kRecentActivityDays);
    AddActivity(channel.usual_activity, at, channel.last_contact, kUsualActivityDays);
    KeepMax(channel.last_contact, at);
  }

  switch (tp.type) {
    case TouchpointType::kPurchase:
      ApplyPurchase(tp, limits, state);
      break;
    case TouchpointType::kReturn:
      ++state.returns;
      state.return_amount += tp.amount;
      if (ProductStats* p = TrackProduct(state, tp.product, at, limits.max_products)) ++p->returns;
      break;
    case TouchpointType::kComplaint:
      ++state.complaints;
      InsertLatestFirst(state.recent_complaints, at, limits.recent_complaints,
                        [](Timestamp t) { return t; });
      break;
    case TouchpointType::kSurvey:
      ++state.surveys;
      if (tp.satisfaction) {
        InsertLatestFirst(state.recent_satisfaction, SatisfactionSample{at, *tp.satisfaction},
                          limits.recent_satisfaction,
                          [](const SatisfactionSample& s) { return s.at; });
      }
      break;
    case TouchpointType::kCampaignResponse:
      ++state.campaign_responses;
      if (ProductStats* p = TrackProduct(state, tp.product, at, limits.max_products)) {
        ++p->interactions;
        KeepMax(p->last_interaction, at);
      }
      break;
    case TouchpointType::kConsent: {
      ChannelStats& channel = state.channels[static_cast<int>(tp.channel)];
      // The latest statement by event time is in force; a tie goes to the later arrival.
      if (tp.consent_granted && (!channel.consent_at || at >= *channel.consent_at)) {
        channel.consent = *tp.consent_granted;
        channel.consent_at = at;
      }
      break;
    }
    case TouchpointType::kCancellation:
      ++state.cancellations;
      KeepMax(state.last_cancellation, at);
      if (ProductStats* p = TrackProduct(state, tp.product, at, limits.max_products)) {
        ++p->cancellations;
      }
      break;
    case TouchpointType::kContact:
      if (ProductStats* p = TrackProduct(state, tp.product, at, limits.max_products)) {
        ++p->interactions;
        KeepMax(p->last_interaction, at);
      }
      break;
    case TouchpointType::kProfile:
      ApplyProfile(tp, limits, state);
      break;
    case TouchpointType::kCampaignContact:
      if (tp.held_out) break;  // not made: the campaign's control group
      ++state.campaign_contacts;
      InsertLatestFirst(state.recent_campaign_contacts, at, limits.recent_campaign_contacts,
                        [](Timestamp t) { return t; });
      break;
    case TouchpointType::kUnspecified:
      break;  // rejected by validation; never reaches here
  }
  return ApplyOutcome::kApplied;
}

}  // namespace

std::size_t StateBytes(const CustomerState& state) {
  std::size_t bytes = sizeof(CustomerState);
  bytes += state.purchase_days.size() * sizeof(std::int32_t);
  bytes += state.recent_complaints.size() * sizeof(Timestamp);
  bytes += state.recent_campaign_contacts.size() * sizeof(Timestamp);
  for (const AlertFollowUp& follow_up : state.alert.follow_ups) {
    bytes +=
        sizeof(AlertFollowUp) + HeapBytes(follow_up.campaign_id) + HeapBytes(follow_up.product);
  }
  bytes += state.recent_satisfaction.size() * sizeof(SatisfactionSample);
  bytes += state.recent_events.ring().size() * sizeof(std::uint64_t);
  for (const auto& [product, stats] : state.products) {
    bytes += kMapNodeOverheadBytes + sizeof(std::pair<const std::string, ProductStats>) +
             HeapBytes(product);
  }
  for (const auto& [key, field] : state.profile) {
    bytes += kMapNodeOverheadBytes + sizeof(std::pair<const std::string, ProfileField>) +
             HeapBytes(key) + HeapBytes(field.value);
  }
  return bytes;
}

ApplyOutcome ApplyTouchpoint(const Touchpoint& tp, const StateLimits& limits,
                             CustomerState& state) {
  if (limits.max_state_bytes == 0) return ApplyUnbounded(tp, limits, state);
  const std::size_t before = StateBytes(state);
  if (before + GrowthBound(tp) <= limits.max_state_bytes) return ApplyUnbounded(tp, limits, state);
  // Near the cap: applied to a copy, kept only if within it (or no larger).
  CustomerState candidate = state;
  const ApplyOutcome outcome = ApplyUnbounded(tp, limits, candidate);
  if (outcome == ApplyOutcome::kDuplicate) return outcome;
  const std::size_t after = StateBytes(candidate);
  if (after > limits.max_state_bytes && after > before) return ApplyOutcome::kTooLarge;
  state = std::move(candidate);
  return outcome;
}

}  // namespace crm
