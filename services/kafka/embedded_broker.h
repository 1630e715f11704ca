#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace crm {

struct TopicSpec {
  std::string name;
  int partitions = 6;
};

// The topics of CONTRACT.md with `partitions` partitions each, the changelog
// likewise, and the cluster topic (one partition).
std::vector<TopicSpec> ContractTopics(int partitions);

// A Kafka-protocol broker on loopback, in this process: librdkafka's mock
// cluster. For development, tests and the out-of-the-box service; it keeps
// only about 5 MB per partition (older batches are dropped).
class EmbeddedBroker {
 public:
  // Starts `brokers` brokers on ephemeral loopback ports and creates `topics`.
  static absl::StatusOr<std::unique_ptr<EmbeddedBroker>> Start(const std::vector<TopicSpec>& topics,
                                                               int brokers = 1);
  ~EmbeddedBroker();
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // "127.0.0.1:PORT[,…]": what clients use as bootstrap.servers.
  const std::string& bootstrap() const { return bootstrap_; }

  // Takes every broker down (connections closed, new ones refused: as a
  // broker crash looks to clients) or up again, data kept. For tests.
  absl::Status SetReachable(bool reachable);

  // The next `requests` Produce requests are answered "message size too
  // large", as a topic whose max.message.bytes is below a record's size
  // answers. For tests.
  void RefuseProduceRequests(int requests);

 private:
  EmbeddedBroker() = default;
  rd_kafka_s* handle_ = nullptr;  // owns the mock cluster
  rd_kafka_mock_cluster_s* cluster_ = nullptr;
  std::string bootstrap_;
  int brokers_ = 1;
};

}  // namespace crm
