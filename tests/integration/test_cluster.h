#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/kafka/embedded_broker.h"

namespace crm::testing {

// The Kafka each integration test runs on.
//
// With the environment variable CRM_TEST_BROKERS unset, what the tests always
// had: an embedded broker (librdkafka's mock cluster) in this process with the
// contract's topic names, and the names given here unchanged.
//
// With CRM_TEST_BROKERS=HOST:PORT[,…], the cluster it names: each TestKafka
// creates its topics there through the Admin API (CreateTopics, the wanted
// partition counts, cleanup.policy=compact for the changelog and cluster
// topics) under names unique to the test and the run
// ("crmtest.<Suite>.<Test>.<random hex>.crm.touchpoints", …), and deletes them
// when destroyed. A broker that does not answer CreateTopics (librdkafka's own
// mock cluster up to at least 2.0.2) gets them by auto-creation instead, with
// its default partition count; a line on stdout says so.
//
// The live TestKafka created last is "the test's Kafka": TestTopic,
// WithTestKafka and the helpers of touchpoint_producer.h resolve names through
// it. For the test's thread only.
class TestKafka {
 public:
  // Topic configurations a test asks for, by contract topic name
  // (e.g. {"crm.state.changelog", {{"delete.retention.ms", "100"}}}).
  using TopicConfigs = std::map<std::string, std::map<std::string, std::string>>;

  // `topics` (normally ContractTopics(n)) on `brokers` embedded brokers, or on
  // the cluster of CRM_TEST_BROKERS; an error when neither can be had.
  // `configs` are set on the topics an external cluster creates (the mock
  // has no topic configurations: it never compacts nor deletes).
  static absl::StatusOr<std::unique_ptr<TestKafka>> Start(const std::vector<TopicSpec>& topics,
                                                          int brokers = 1,
                                                          const TopicConfigs& configs = {});
  ~TestKafka();
  TestKafka(const TestKafka&) = delete;
  TestKafka& operator=(const TestKafka&) = delete;

  // What clients use as bootstrap.servers.
  const std::string& bootstrap() const { return bootstrap_; }

  // The name this Kafka holds the contract topic `name` under (`name` itself
  // when it is not one of its topics).
  std::string Topic(const std::string& name) const;

  // The mock's fault injection (EmbeddedBroker). REQUIRES: !OnExternalKafka();
  // tests needing them skip themselves on an external cluster.
  absl::Status SetReachable(bool reachable);
  void RefuseProduceRequests(int requests);

 private:
  TestKafka() = default;
  std::unique_ptr<EmbeddedBroker> embedded_;  // null on an external cluster
  std::string bootstrap_;
  std::string group_suffix_;                   // "" when embedded
  std::map<std::string, std::string> topics_;  // contract name → name here
  TestKafka* previous_ = nullptr;              // the test's Kafka before this one

  friend std::string TestGroup(const std::string& group);
  friend std::vector<std::string> WithTestKafka(std::vector<std::string> args);
};

// True when CRM_TEST_BROKERS names a cluster to run the tests on.
bool OnExternalKafka();

// The name of the contract topic `name` on the test's Kafka (`name` when
// there is none or it is embedded).
std::string TestTopic(const std::string& name);

// The consumer group `group` made unique to the test's Kafka on an external
// cluster; `group` itself otherwise.
std::string TestGroup(const std::string& group);

// `args` of crm-scored pointed at the test's Kafka: on an external cluster
// its topic names (--topic, --alerts-topic, --dlq-topic, --changelog-topic,
// --cluster-topic; a "none" kept) and a unique --group; unchanged otherwise.
std::vector<std::string> WithTestKafka(std::vector<std::string> args);

}  // namespace crm::testing
