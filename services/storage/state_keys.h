// The layout of the state store's keys in RocksDB (see RocksDbStateStore):
// every integer big-endian and every time or bucket with its sign bit
// flipped, so that keys sort as the values they hold do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/customer_id.h"
#include "core/population.h"
#include "core/state_store.h"
#include "core/time.h"

namespace crm {

// The first byte of each kind of key.
constexpr char kCustomerPrefix = 's';
constexpr char kFormat2CustomerPrefix = 'c';  // "c" + customer id
constexpr char kOffsetPrefix = 'o';
constexpr char kPopulationPrefix = 'p';
constexpr char kEventTimePrefix = 'e';
constexpr char kDuePrefix = 't';  // earlier builds' time index, dropped
constexpr char kRiskPrefix = 'r';
constexpr char kOfferPrefix = 'f';
constexpr char kOutboxPrefix = 'a';
constexpr char kTouchpointPrefix = 'h';
constexpr char kOutcomePrefix = 'u';
constexpr std::string_view kFormatKey = "m:format";
// Index keys: prefix (1) + partition (4) + 8 bytes + customer id.
constexpr std::size_t kIndexHeader = 13;

void AppendBigEndian(std::string& out, std::uint64_t value, int bytes);

std::string CustomerKey(std::int32_t partition, const CustomerId& id);

std::string OffsetKey(const std::string& topic, std::int32_t partition);

std::string PopulationPrefix(const std::string& topic);

// Buckets are stored with their sign bit flipped so that keys sort as buckets do.
std::string PopulationKey(const std::string& topic, const PopulationCell& cell);

std::string EventTimeKey(const std::string& topic);

std::uint64_t ReadBigEndian(std::string_view bytes);

// The prefix of one partition's entries in an index ("t" or "r").
std::string IndexPrefix(char index, std::int32_t partition);

// Highest churn first; `churn` must be a probability (crashes otherwise).
std::string RiskKey(std::int32_t partition, double churn, const CustomerId& id);

// The first key after every key that starts with `prefix` (which is not all 0xff).
std::string PrefixEnd(std::string prefix);

std::int32_t PartitionOfKey(std::string_view key);

RiskEntry RiskEntryOf(std::string_view key);

// The prefix of one product's offer index in one partition: "f" + partition
// (4) + the product's length (2) + product, so that no product's entries
// start with another's. REQUIRES: the product is under 64 KiB.
std::string OfferPrefix(std::int32_t partition, std::string_view product);

// The prefix + inverted appetence (8, highest first) + customer id;
// `probability` must be 0-1 (crashes otherwise).
std::string OfferKey(std::int32_t partition, std::string_view product, double probability,
                     const CustomerId& id);

// The entry of an offer index key of `product` (whose prefix it starts with).
OfferEntry OfferEntryOf(std::string_view key, std::string_view product);

std::string OutboxKey(std::uint64_t sequence);

// The prefix of one customer's recent touchpoints: "h" + partition (4) + the
// id's length (4) + customer id, so that no customer's keys start with
// another's (ids that are prefixes of each other included).
std::string TouchpointPrefix(std::int32_t partition, const CustomerId& id);

// The key of the customer's `sequence`-th touchpoint applied: the prefix + sequence (8).
std::string TouchpointKey(std::int32_t partition, const CustomerId& id, std::uint64_t sequence);

// An entry of the outcome index: "u" + partition (4) + time of raising (8) +
// customer id + alert number (8), so that a partition's alerts sort by the
// time they were raised.
std::string OutcomeKey(std::int32_t partition, const CustomerId& id,
                       const AlertFollowUp& follow_up);
// The first key of `partition`'s alerts raised at or after `at`.
std::string OutcomeBound(std::int32_t partition, Timestamp at);
// The time of raising of an outcome index key (at least kIndexHeader + 8 bytes).
Timestamp OutcomeRaisedAt(std::string_view key);

}  // namespace crm
