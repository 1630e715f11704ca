#include "services/storage/state_keys.h"

#include <bit>

#include "core/check.h"

namespace crm {

void AppendBigEndian(std::string& out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

std::string CustomerKey(std::int32_t partition, const CustomerId& id) {
  std::string key;
  key.reserve(id.value().size() + 5);
  key.push_back(kCustomerPrefix);
  AppendBigEndian(key, static_cast<std::uint32_t>(partition), 4);
  key.append(id.value());
  return key;
}

std::string OffsetKey(const std::string& topic, std::int32_t partition) {
  std::string key(1, kOffsetPrefix);
  key.append(topic);
  key.push_back('\0');
  AppendBigEndian(key, static_cast<std::uint32_t>(partition), 4);
  return key;
}

std::string PopulationPrefix(const std::string& topic) {
  std::string key(1, kPopulationPrefix);
  key.append(topic);
  key.push_back('\0');
  return key;
}

// Buckets are stored with their sign bit flipped so that keys sort as buckets do.
std::string PopulationKey(const std::string& topic, const PopulationCell& cell) {
  std::string key = PopulationPrefix(topic);
  AppendBigEndian(key, static_cast<std::uint32_t>(cell.partition), 4);
  key.push_back(static_cast<char>(cell.axis));
  AppendBigEndian(key, static_cast<std::uint64_t>(cell.bucket) ^ (1ULL << 63), 8);
  return key;
}

std::string EventTimeKey(const std::string& topic) { return kEventTimePrefix + topic; }

std::uint64_t ReadBigEndian(std::string_view bytes) {
  std::uint64_t value = 0;
  for (unsigned char c : bytes) value = (value << 8) | c;
  return value;
}

// The prefix of one partition's entries in an index ("t" or "r").
std::string IndexPrefix(char index, std::int32_t partition) {
  std::string key(1, index);
  AppendBigEndian(key, static_cast<std::uint32_t>(partition), 4);
  return key;
}

// A non-negative double's bits sort as it does; inverted, highest first. A
// churn is a probability: anything else (NaN included) is a scorer's bug.
std::string RiskKey(std::int32_t partition, double churn, const CustomerId& id) {
  CRM_CHECK(churn >= 0 && churn <= 1);
  std::string key = IndexPrefix(kRiskPrefix, partition);
  // + 0.0 turns -0.0, whose sign bit would sort it last, into 0.0.
  AppendBigEndian(key, ~std::bit_cast<std::uint64_t>(churn + 0.0), 8);
  key.append(id.value());
  return key;
}

// The first key after every key that starts with `prefix` (which is not all 0xff).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (!prefix.empty()) prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

std::int32_t PartitionOfKey(std::string_view key) {
  return static_cast<std::int32_t>(ReadBigEndian(key.substr(1, 4)));
}

RiskEntry RiskEntryOf(std::string_view key) {
  return {std::bit_cast<double>(~ReadBigEndian(key.substr(5, 8))),
          CustomerId(std::string(key.substr(kIndexHeader))), PartitionOfKey(key)};
}

std::string OfferPrefix(std::int32_t partition, std::string_view product) {
  CRM_CHECK(product.size() <= 0xffff);
  std::string key = IndexPrefix(kOfferPrefix, partition);
  AppendBigEndian(key, product.size(), 2);
  key.append(product);
  return key;
}

// Ordered as the at-risk index: a probability's bits, inverted.
std::string OfferKey(std::int32_t partition, std::string_view product, double probability,
                     const CustomerId& id) {
  CRM_CHECK(probability >= 0 && probability <= 1);
  std::string key = OfferPrefix(partition, product);
  AppendBigEndian(key, ~std::bit_cast<std::uint64_t>(probability + 0.0), 8);
  key.append(id.value());
  return key;
}

OfferEntry OfferEntryOf(std::string_view key, std::string_view product) {
  const std::size_t header = 1 + 4 + 2 + product.size();
  return {std::bit_cast<double>(~ReadBigEndian(key.substr(header, 8))),
          CustomerId(std::string(key.substr(header + 8))), PartitionOfKey(key)};
}

std::string OutboxKey(std::uint64_t sequence) {
  std::string key(1, kOutboxPrefix);
  AppendBigEndian(key, sequence, 8);
  return key;
}

std::string TouchpointPrefix(std::int32_t partition, const CustomerId& id) {
  std::string key = IndexPrefix(kTouchpointPrefix, partition);
  key.reserve(key.size() + 4 + id.value().size() + 8);
  AppendBigEndian(key, id.value().size(), 4);
  key.append(id.value());
  return key;
}

std::string TouchpointKey(std::int32_t partition, const CustomerId& id, std::uint64_t sequence) {
  std::string key = TouchpointPrefix(partition, id);
  AppendBigEndian(key, sequence, 8);
  return key;
}

std::string OutcomeBound(std::int32_t partition, Timestamp at) {
  std::string key = IndexPrefix(kOutcomePrefix, partition);
  AppendBigEndian(key, static_cast<std::uint64_t>(ToMicros(at)) ^ (1ULL << 63), 8);
  return key;
}

std::string OutcomeKey(std::int32_t partition, const CustomerId& id,
                       const AlertFollowUp& follow_up) {
  std::string key = OutcomeBound(partition, follow_up.raised_at);
  key.append(id.value());
  AppendBigEndian(key, follow_up.number, 8);
  return key;
}

Timestamp OutcomeRaisedAt(std::string_view key) {
  return FromMicros(static_cast<std::int64_t>(ReadBigEndian(key.substr(5, 8)) ^ (1ULL << 63)));
}

}  // namespace crm
