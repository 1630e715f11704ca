#include "tests/integration/test_cluster.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"

namespace crm::testing {
namespace {

using namespace std::chrono_literals;

TestKafka* current = nullptr;  // the test's Kafka (the test's thread only)

// The topics whose records are compacted by key.
bool Compacted(const std::string& name) {
  return name == "crm.state.changelog" || name == "crm.cluster";
}

// "<Suite>.<Test>" of the running test, in the characters topic names allow.
std::string TestName() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name =
      info == nullptr ? "none" : absl::StrCat(info->test_suite_name(), ".", info->name());
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '-';
  }
  return name.substr(0, 150);
}

std::string RandomHex() {
  std::random_device device;
  return absl::StrCat(absl::Hex(device(), absl::kZeroPad8));
}

using Handle = std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)>;
using Queue = std::unique_ptr<rd_kafka_queue_t, decltype(&rd_kafka_queue_destroy)>;
using Event = std::unique_ptr<rd_kafka_event_t, decltype(&rd_kafka_event_destroy)>;
using Options = std::unique_ptr<rd_kafka_AdminOptions_t, decltype(&rd_kafka_AdminOptions_destroy)>;

absl::StatusOr<Handle> Client(const std::string& brokers) {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), error, sizeof error) !=
      RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("CRM_TEST_BROKERS: ", error));
  }
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  if (handle == nullptr) return absl::InternalError(error);
  return Handle(handle, &rd_kafka_destroy);
}

// The partition count of `topic` on the cluster, -1 while it has none.
int Partitions(rd_kafka_t* client, const std::string& topic) {
  rd_kafka_topic_t* handle = rd_kafka_topic_new(client, topic.c_str(), nullptr);
  const struct rd_kafka_metadata* metadata = nullptr;
  int partitions = -1;
  if (rd_kafka_metadata(client, 0, handle, &metadata, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
        metadata->topics[0].partition_cnt > 0) {
      partitions = metadata->topics[0].partition_cnt;
    }
    rd_kafka_metadata_destroy(metadata);
  }
  rd_kafka_topic_destroy(handle);
  return partitions;
}

// Creates `topics` (their names as on the cluster) with `configs` (by
// index) through the Admin API; an error naming the first that failed.
absl::Status CreateTopics(rd_kafka_t* client, const std::vector<TopicSpec>& topics,
                          const std::vector<std::map<std::string, std::string>>& configs) {
  char error[512];
  std::vector<rd_kafka_NewTopic_t*> requests;
  for (std::size_t i = 0; i < topics.size(); ++i) {
    rd_kafka_NewTopic_t* request = rd_kafka_NewTopic_new(
        topics[i].name.c_str(), topics[i].partitions, -1, error, sizeof error);
    if (request == nullptr) {
      rd_kafka_NewTopic_destroy_array(requests.data(), requests.size());
      return absl::InvalidArgumentError(absl::StrCat(topics[i].name, ": ", error));
    }
    requests.push_back(request);
    for (const auto& [name, value] : configs[i]) {
      if (const rd_kafka_resp_err_t err =
              rd_kafka_NewTopic_set_config(request, name.c_str(), value.c_str());
          err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_NewTopic_destroy_array(requests.data(), requests.size());
        return absl::InvalidArgumentError(
            absl::StrCat(topics[i].name, " ", name, "=", value, ": ", rd_kafka_err2str(err)));
      }
    }
  }
  Options options(rd_kafka_AdminOptions_new(client, RD_KAFKA_ADMIN_OP_CREATETOPICS),
                  &rd_kafka_AdminOptions_destroy);
  rd_kafka_AdminOptions_set_request_timeout(options.get(), 5000, error, sizeof error);
  rd_kafka_AdminOptions_set_operation_timeout(options.get(), 15000, error, sizeof error);
  Queue queue(rd_kafka_queue_new(client), &rd_kafka_queue_destroy);
  rd_kafka_CreateTopics(client, requests.data(), requests.size(), options.get(), queue.get());
  rd_kafka_NewTopic_destroy_array(requests.data(), requests.size());
  Event event(rd_kafka_queue_poll(queue.get(), 30'000), &rd_kafka_event_destroy);
  if (event == nullptr) return absl::DeadlineExceededError("CreateTopics: no answer in 30 s");
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("CreateTopics: ", rd_kafka_event_error_string(event.get())));
  }
  std::size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event.get()), &count);
  for (std::size_t i = 0; i < count; ++i) {
    const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* why = rd_kafka_topic_result_error_string(results[i]);
      return absl::InternalError(absl::StrCat("CreateTopics ",
                                              rd_kafka_topic_result_name(results[i]), ": ",
                                              why != nullptr ? why : rd_kafka_err2str(err)));
    }
  }
  return absl::OkStatus();
}

// Deletes `topics` through the Admin API, best effort (a line on failure).
void DeleteTopics(const std::string& brokers, const std::vector<std::string>& topics) {
  auto client = Client(brokers);
  if (!client.ok()) return;
  std::vector<rd_kafka_DeleteTopic_t*> requests;
  for (const std::string& name : topics) requests.push_back(rd_kafka_DeleteTopic_new(name.c_str()));
  char error[512];
  Options options(rd_kafka_AdminOptions_new(client->get(), RD_KAFKA_ADMIN_OP_DELETETOPICS),
                  &rd_kafka_AdminOptions_destroy);
  rd_kafka_AdminOptions_set_request_timeout(options.get(), 5000, error, sizeof error);
  Queue queue(rd_kafka_queue_new(client->get()), &rd_kafka_queue_destroy);
  rd_kafka_DeleteTopics(client->get(), requests.data(), requests.size(), options.get(),
                        queue.get());
  rd_kafka_DeleteTopic_destroy_array(requests.data(), requests.size());
  Event event(rd_kafka_queue_poll(queue.get(), 10'000), &rd_kafka_event_destroy);
  if (event == nullptr || rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::cout << "test Kafka: the topics " << topics.front() << "… are left behind ("
              << (event == nullptr ? "no answer" : rd_kafka_event_error_string(event.get()))
              << ")\n";
  }
}

}  // namespace

bool OnExternalKafka() {
  const char* brokers = std::getenv("CRM_TEST_BROKERS");
  return brokers != nullptr && *brokers != '\0';
}

absl::StatusOr<std::unique_ptr<TestKafka>> TestKafka::Start(const std::vector<TopicSpec>& topics,
                                                            int brokers,
                                                            const TopicConfigs& configs) {
  std::unique_ptr<TestKafka> kafka(new TestKafka());
  if (!OnExternalKafka()) {
    auto embedded = EmbeddedBroker::Start(topics, brokers);
    if (!embedded.ok()) return embedded.status();
    kafka->embedded_ = *std::move(embedded);
    kafka->bootstrap_ = kafka->embedded_->bootstrap();
  } else {
    kafka->bootstrap_ = std::getenv("CRM_TEST_BROKERS");
    const std::string suffix = RandomHex();
    const std::string prefix = absl::StrCat("crmtest.", TestName(), ".", suffix, ".");
    kafka->group_suffix_ = "." + suffix;
    std::vector<TopicSpec> named;
    std::vector<std::map<std::string, std::string>> named_configs;
    for (const TopicSpec& topic : topics) {
      kafka->topics_[topic.name] = prefix + topic.name;
      named.push_back({prefix + topic.name, topic.partitions});
      std::map<std::string, std::string> config;
      if (Compacted(topic.name)) config["cleanup.policy"] = "compact";
      if (const auto it = configs.find(topic.name); it != configs.end()) {
        for (const auto& [name, value] : it->second) config.insert_or_assign(name, value);
      }
      named_configs.push_back(std::move(config));
    }
    auto client = Client(kafka->bootstrap_);
    if (!client.ok()) return client.status();
    if (const absl::Status created = CreateTopics(client->get(), named, named_configs);
        !created.ok()) {
      std::cout << "test Kafka: " << created.message()
                << "; the topics are auto-created instead, with the broker's default partition "
                   "count and policy\n";
    }
    // Created (or auto-created by the metadata request) and known to the
    // cluster before anyone uses them.
    for (const TopicSpec& topic : named) {
      const auto until = std::chrono::steady_clock::now() + 30s;
      while (Partitions(client->get(), topic.name) < 0) {
        if (std::chrono::steady_clock::now() > until) {
          return absl::UnavailableError(absl::StrCat("topic ", topic.name, ": no metadata"));
        }
        std::this_thread::sleep_for(100ms);
      }
    }
  }
  kafka->previous_ = current;
  current = kafka.get();
  return kafka;
}

TestKafka::~TestKafka() {
  // Out of the chain of live ones, wherever it is.
  if (current == this) current = previous_;
  for (TestKafka* later = current; later != nullptr; later = later->previous_) {
    if (later->previous_ == this) later->previous_ = previous_;
  }
  if (embedded_ == nullptr && !topics_.empty()) {
    std::vector<std::string> names;
    for (const auto& [contract, name] : topics_) names.push_back(name);
    DeleteTopics(bootstrap_, names);
  }
}

std::string TestKafka::Topic(const std::string& name) const {
  const auto it = topics_.find(name);
  return it == topics_.end() ? name : it->second;
}

absl::Status TestKafka::SetReachable(bool reachable) {
  if (embedded_ == nullptr) return absl::FailedPreconditionError("not on the mock cluster");
  return embedded_->SetReachable(reachable);
}

void TestKafka::RefuseProduceRequests(int requests) {
  ASSERT_NE(embedded_, nullptr) << "not on the mock cluster";
  embedded_->RefuseProduceRequests(requests);
}

std::string TestTopic(const std::string& name) {
  return current == nullptr ? name : current->Topic(name);
}

std::string TestGroup(const std::string& group) {
  return current == nullptr ? group : group + current->group_suffix_;
}

std::vector<std::string> WithTestKafka(std::vector<std::string> args) {
  if (current == nullptr || current->embedded_ != nullptr) return args;
  static const std::vector<std::pair<std::string, std::string>> kFlags = {
      {"--topic", "crm.touchpoints"},
      {"--alerts-topic", "crm.alerts"},
      {"--dlq-topic", "crm.touchpoints.dlq"},
      {"--changelog-topic", "crm.state.changelog"},
      {"--cluster-topic", "crm.cluster"}};
  for (const auto& [flag, contract] : kFlags) {
    const auto at = std::find(args.begin(), args.end(), flag);
    if (at == args.end()) {
      args.insert(args.end(), {flag, TestTopic(contract)});
    } else if (at + 1 != args.end() && *(at + 1) != "none") {
      *(at + 1) = TestTopic(*(at + 1));
    }
  }
  const auto group = std::find(args.begin(), args.end(), "--group");
  if (group != args.end() && group + 1 != args.end()) *(group + 1) = TestGroup(*(group + 1));
  return args;
}

}  // namespace crm::testing
