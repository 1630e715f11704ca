#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "crm/v1/touchpoint.pb.h"

namespace crm::testing {

// Day 0 of the tests' histories: 2025-01-01T00:00:00Z.
inline constexpr std::int64_t kTestEpochSeconds = 1'735'689'600;
inline constexpr std::int64_t kDaySeconds = 86'400;

// A touchpoint `id` of `customer` on the web, `day` days after day 0; a
// purchase is of `amount`.
v1::Touchpoint DayTouchpoint(const std::string& customer, const std::string& id, int day,
                             v1::TouchpointType type = v1::PURCHASE, double amount = 40);

// Two customers with the same rhythm (a purchase every 14 days, days 0 to
// 266), "vip" spending 400 and "small" 1 a time; then only "ticker"'s
// contacts every 2 days to day 500, moving the event clock on while both go
// silent: each is alerted once (vip to WIN_BACK, small not).
struct SilentBuyers {
  std::vector<v1::Touchpoint> history;
  std::vector<v1::Touchpoint> ticker;
};
SilentBuyers VipAndSmall();

// Topic names are those of the contract (crm.touchpoints, …), resolved by
// TestTopic (test_cluster.h) to the test's own on an external cluster.

// Produces `touchpoints` to crm.touchpoints on `brokers` as protobuf, key =
// customer id, with an idempotent producer, and waits until all are
// acknowledged (a gtest failure otherwise).
void ProduceTouchpoints(const std::string& brokers, const std::vector<v1::Touchpoint>& touchpoints);

// One Kafka record as a test writes or reads it.
struct TestRecord {
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;
  std::int32_t partition = -1;  // when read
  std::int64_t offset = -1;     // when read
};

// Produces `records` to `topic` as they are (bytes, key, headers), and waits
// until all are acknowledged (a gtest failure otherwise).
void ProduceRecords(const std::string& brokers, const std::string& topic,
                    const std::vector<TestRecord>& records);

// Every record of partitions 0 to `partitions` - 1 of `topic` (on an
// external cluster: of every partition it has), read from the beginning for
// `wait`.
std::vector<TestRecord> ReadTopic(const std::string& brokers, const std::string& topic,
                                  int partitions, std::chrono::milliseconds wait);

}  // namespace crm::testing
