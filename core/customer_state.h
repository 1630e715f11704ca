#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/follow_up.h"
#include "core/segment.h"
#include "core/time.h"
#include "core/touchpoint.h"

namespace crm {

// Bounds on what one customer's state may hold, so that a very active customer
// costs bounded memory and disk. Defaults are documented in docs/configuration.md.
struct StateLimits {
  // Distinct event ids remembered per customer for duplicate detection. A
  // duplicate that arrives after this many newer distinct events of the same
  // customer is no longer recognised (8 bytes each).
  std::size_t dedup_window = 128;
  // Products tracked per customer; past it the least recently active is dropped.
  std::size_t max_products = 64;
  // Latest satisfaction scores kept (by event time).
  std::size_t recent_satisfaction = 8;
  // Latest complaint times kept (by event time), for "N complaints in D days".
  std::size_t recent_complaints = 16;
  // Profile attributes kept per customer.
  std::size_t max_profile_fields = 64;
  // Latest campaign contact times kept (by event time), for the contact
  // pressure of the last 30 days: past this many, a customer is over any
  // --max-contacts-30d the service accepts (63 at most).
  std::size_t recent_campaign_contacts = 64;
  // The most one customer's state may hold, as StateBytes counts it: a
  // touchpoint that would take it past this (and grow it) is not applied
  // (ApplyOutcome::kTooLarge). The bounds above allow ~150 kB (64 profile
  // fields of 2 KiB, 64 products), far beyond any real customer's few kB,
  // and purchase days are unbounded; 64 KiB keeps a cache of 100,000 states
  // under ~6.5 GB at worst. 0: no cap.
  std::size_t max_state_bytes = 64 * 1024;
};

// Mean lives, in days, of the two fading activity counters kept per channel:
// a steady customer's recent counter holds 30/180 of the usual one, so a fall
// of the ratio shows contact dropping off.
inline constexpr double kRecentActivityDays = 30;
inline constexpr double kUsualActivityDays = 180;

struct ChannelStats {
  std::uint64_t contacts = 0;  // touchpoints on this channel (not consent/profile)
  std::optional<Timestamp> last_contact;
  // Σ exp(-(last_contact - t) / mean life) over the contacts at times t: the
  // contacts of the last ~30 and ~180 days, as of last_contact.
  double recent_activity = 0;
  double usual_activity = 0;
  std::optional<bool> consent;          // absent: never stated
  std::optional<Timestamp> consent_at;  // event time of the consent in force
};

struct ProductStats {
  std::uint64_t purchases = 0;
  std::uint64_t interactions = 0;  // contacts and campaign responses about it
  std::uint64_t returns = 0;
  std::uint64_t cancellations = 0;
  Timestamp last_at{};                        // of any touchpoint about it
  std::optional<Timestamp> last_interaction;  // of the latest contact or response about it
};

// Whether the customer owns the product: bought more than they returned or
// cancelled (the appetence models' owns_product).
inline bool Owns(const ProductStats& stats) {
  return stats.purchases > stats.cancellations + stats.returns;
}

struct SatisfactionSample {
  Timestamp at{};
  std::int32_t score = 0;  // 0-10
  friend bool operator==(const SatisfactionSample&, const SatisfactionSample&) = default;
};

struct ProfileField {
  std::string value;
  Timestamp at{};
  friend bool operator==(const ProfileField&, const ProfileField&) = default;
};

// Hashes of the latest distinct event ids of one customer, as a ring.
class DedupWindow {
 public:
  // True if `hash` is among the remembered ids.
  bool Contains(std::uint64_t hash) const;
  // Remembers `hash`, forgetting the oldest once `capacity` are held.
  void Insert(std::uint64_t hash, std::size_t capacity);

  // For storage adapters: the ring and the index of the next slot to overwrite.
  const std::vector<std::uint64_t>& ring() const { return ring_; }
  std::size_t next() const { return next_; }
  void Restore(std::vector<std::uint64_t> ring, std::size_t next);

  friend bool operator==(const DedupWindow&, const DedupWindow&) = default;

 private:
  std::vector<std::uint64_t> ring_;
  std::size_t next_ = 0;
};

// Appetence by product (the model's product codes), each 0-1.
using AppetenceByProduct = std::map<std::string, double, std::less<>>;

// A customer's at-risk alert and when it is next due for a look (see
// core/alerts.h), and where their looks put them in the indexes, kept with
// their state so that all commit together.
struct AlertState {
  bool open = false;
  std::uint64_t raised = 0;               // alerts raised so far; numbers the next alert id
  std::optional<Timestamp> raised_at;     // of the latest alert raised
  double last_churn = 0;                  // at the latest look
  Segment last_segment = Segment::kNone;  // at the latest look
  std::optional<Timestamp> looked_at;
  std::optional<Timestamp> next_look;  // in the time index
  // The churn the customer is ranked by in the at-risk index: the churn of a
  // recent look, moved only when a look differs from it by half the risk
  // precision or more (fewer index writes).
  std::optional<double> indexed_churn;
  // The latest alert raised is in the control group (core/marketing.h), so
  // that its clear says so too.
  bool control = false;
  // What followed the latest alerts of the experiment (treated or control),
  // latest raised first, at most kMaxFollowUps.
  std::vector<AlertFollowUp> follow_ups;
  // The appetence per product the customer is ranked by in the offer index
  // (StateStore::LikeliestBuyers): that of a recent look, each product's
  // moved only when a look differs from it by half the risk precision or
  // more; products the model no longer scores leave it at the next look.
  AppetenceByProduct indexed_appetence;
  friend bool operator==(const AlertState&, const AlertState&) = default;
};

// Everything the service keeps about one customer: incremental aggregates of
// the touchpoints applied, order-independent where event time matters (a late
// event updates first/last times and "latest" values by event time).
struct CustomerState {
  // The input partition the customer's touchpoints come from (their key's);
  // -1 before the first. Their index entries are kept under it.
  std::int32_t partition = -1;
  std::uint64_t events_applied = 0;
  std::optional<Timestamp> first_seen;
  std::optional<Timestamp> last_seen;

  std::optional<Timestamp> first_purchase;
  std::optional<Timestamp> last_purchase;
  std::uint64_t purchases = 0;  // purchase touchpoints
  // Of the first purchase day: the value bought that day. The rest of
  // purchase_amount is the value of the repeat transactions.
  double first_day_amount = 0;
  std::vector<std::int32_t> purchase_days;  // distinct UTC days with a purchase, ascending
  double purchase_amount = 0;
  std::uint64_t returns = 0;
  double return_amount = 0;

  std::uint64_t complaints = 0;
  std::vector<Timestamp> recent_complaints;  // latest first, bounded
  std::uint64_t surveys = 0;
  std::vector<SatisfactionSample> recent_satisfaction;  // latest first, bounded
  std::uint64_t cancellations = 0;
  std::optional<Timestamp> last_cancellation;
  std::uint64_t campaign_responses = 0;
  // Outbound campaign contacts made (kCampaignContact): not the customer's
  // own activity, so they move no channel counter nor product.
  std::uint64_t campaign_contacts = 0;
  std::vector<Timestamp> recent_campaign_contacts;  // latest first, bounded

  std::array<ChannelStats, kChannelCount> channels{};  // indexed by Channel
  std::map<std::string, ProductStats, std::less<>> products;
  std::map<std::string, ProfileField, std::less<>> profile;

  DedupWindow recent_events;
  AlertState alert;

  const ChannelStats& channel(Channel c) const { return channels[static_cast<int>(c)]; }
  // Transactions in the sense of the BG/NBD literature: distinct purchase days.
  std::uint64_t transactions() const { return purchase_days.size(); }
};

// A stable 64-bit hash of an event id (FNV-1a), the form kept in DedupWindow.
// Stable across builds and platforms: it is persisted.
std::uint64_t EventIdHash(std::string_view event_id);

// The bytes `state` occupies in memory: the struct itself, the heap bytes of
// its vectors, its strings (past the small-string buffer) and its map nodes
// (value, tree links and the allocator's header). Counted from sizes, not
// capacities, so that it depends only on the state's content: the same state
// read back from storage or rebuilt by a replay gives the same answer (a
// vector's spare capacity, at most its size again, is left out).
std::size_t StateBytes(const CustomerState& state);

enum class ApplyOutcome { kApplied, kDuplicate, kTooLarge };

// Applies one touchpoint to its customer's state.
// REQUIRES: `touchpoint` passed ValidateTouchpoint.
// Returns kDuplicate, and leaves `state` unchanged, when its event id is in the
// customer's dedup window; kTooLarge, and leaves `state` unchanged, when the
// touchpoint would take StateBytes(state) past limits.max_state_bytes (a
// touchpoint that does not grow the state is applied even past it); kApplied
// otherwise.
ApplyOutcome ApplyTouchpoint(const Touchpoint& touchpoint, const StateLimits& limits,
                             CustomerState& state);

}  // namespace crm
