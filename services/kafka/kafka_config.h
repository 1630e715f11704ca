#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace RdKafka {
class Conf;
}

namespace crm {

// librdkafka client properties, in the order they are applied (later wins).
using KafkaProperties = std::map<std::string, std::string>;

// Writes one librdkafka log line (`level` in syslog's numbers, 0-7) through the
// service's log, as component "kafka", so that it follows --log-level and
// --log-format instead of going to stderr in librdkafka's own format.
void RouteKafkaLog(int level, const char* facility, const char* message);

// Builds a global librdkafka configuration from `properties`, its logs routed
// by RouteKafkaLog; an unknown key or a bad value is an InvalidArgument naming
// the key (never its value: it may be a secret).
absl::StatusOr<std::unique_ptr<RdKafka::Conf>> MakeKafkaConf(const KafkaProperties& properties);

// The same for a client with its own `defaults`, which the operator's
// `overrides` (--kafka) replace key by key.
absl::StatusOr<std::unique_ptr<RdKafka::Conf>> MakeKafkaConf(KafkaProperties defaults,
                                                             const KafkaProperties& overrides);

// Parses "KEY=VALUE" assignments (later ones win); InvalidArgument naming the
// first one without '=' or with an empty key.
absl::StatusOr<KafkaProperties> ParseKafkaAssignments(const std::vector<std::string>& assignments);

// The names of librdkafka's partitioners that place a keyed record by its
// key alone (the "_random" ones differ only for records without a key):
// consistent_random (librdkafka's default), consistent, murmur2_random (the
// Java client's default), murmur2, fnv1a_random, fnv1a.
bool IsKafkaPartitioner(const std::string& name);
// The partition that `partitioner` gives `key` among `count` (REQUIRES: a
// name IsKafkaPartitioner accepts, count > 0).
std::int32_t KafkaPartitionOf(const std::string& partitioner, std::string_view key,
                              std::int32_t count);

// True for properties whose values must never be logged (passwords, keys).
bool IsSecretKafkaProperty(const std::string& key);

}  // namespace crm
