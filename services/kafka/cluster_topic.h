#pragma once

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/clock.h"
#include "core/cluster.h"
#include "core/ingest_loop.h"
#include "core/population.h"
#include "services/common/defaults.h"
#include "services/kafka/kafka_config.h"

namespace RdKafka {
class KafkaConsumer;
class Producer;
}  // namespace RdKafka

namespace crm {

struct ClusterTopicOptions {
  std::string brokers;
  std::string topic{kDefaultClusterTopic};  // compacted; one partition is enough
  std::string group = "crm-scored";  // the input's consumer group: instances of others are not ours
  std::string instance;              // this instance's name, unique in the group
  std::string address;               // where the others reach its gRPC service
  KafkaProperties properties;        // --kafka, over the defaults
  int heartbeat_ms = 2000;           // how often the claim is published again
};

// What the instances of a group tell each other (proto/crm/internal/
// cluster.proto), on a compacted topic: each one's claim (address, the input
// partitions it owns and has restored) under "member/<group>/<instance>",
// republished every heartbeat and removed when it leaves; and each owned
// partition's population histograms under "population/<group>/<partition>",
// so that every instance ranks customers against the whole population.
// A thread reads the topic from its start into a ClusterView and a
// RemotePopulationInbox. Claim and PublishPopulation may be called from any
// thread.
class KafkaCluster final : public PopulationExchange {
 public:
  // `clock` (the wall clock: claims are stamped with it, and the others'
  // judged by it), `view` and `population` must outlive the cluster.
  static absl::StatusOr<std::unique_ptr<KafkaCluster>> Create(const ClusterTopicOptions& options,
                                                              const Clock& clock, ClusterView* view,
                                                              RemotePopulationInbox* population);
  // Leaves (a tombstone for the claim) and stops the reader.
  ~KafkaCluster() override;

  // This instance's partitions now (after an assignment, once restored).
  void Claim(std::set<std::int32_t> partitions, std::int32_t partition_count) override;
  void PublishPopulation(std::int32_t partition, const std::vector<PopulationCell>& cells) override;

 private:
  KafkaCluster() = default;
  void Run();
  void PublishClaim();
  void Apply(const std::string& key, const std::string* value);
  // Counts (in the view) and logs a record not trusted, saying why.
  void Ignore(const std::string& key, std::string_view why);

  ClusterTopicOptions options_;
  const Clock* clock_ = nullptr;
  ClusterView* view_ = nullptr;
  RemotePopulationInbox* population_ = nullptr;
  Timestamp started_at_{};
  absl::Mutex mutex_;
  std::optional<ClusterMember> claim_ ABSL_GUARDED_BY(mutex_);
  std::unique_ptr<RdKafka::Producer> producer_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace crm
