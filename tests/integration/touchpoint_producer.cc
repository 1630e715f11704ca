#include "tests/integration/touchpoint_producer.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include <memory>

#include "tests/integration/test_cluster.h"

namespace crm::testing {

SilentBuyers VipAndSmall() {
  SilentBuyers buyers;
  for (int i = 0; i < 20; ++i) {
    buyers.history.push_back(
        DayTouchpoint("vip", "v" + std::to_string(i), 14 * i, v1::PURCHASE, 400));
    buyers.history.push_back(
        DayTouchpoint("small", "m" + std::to_string(i), 14 * i, v1::PURCHASE, 1));
  }
  for (int day = 266; day <= 500; day += 2) {
    buyers.ticker.push_back(DayTouchpoint("ticker", "t" + std::to_string(day), day, v1::CONTACT));
  }
  return buyers;
}

v1::Touchpoint DayTouchpoint(const std::string& customer, const std::string& id, int day,
                             v1::TouchpointType type, double amount) {
  v1::Touchpoint m;
  m.set_event_id(id);
  m.set_customer_id(customer);
  m.mutable_occurred_at()->set_seconds(kTestEpochSeconds + day * kDaySeconds);
  m.set_channel(v1::WEB);
  m.set_type(type);
  if (type == v1::PURCHASE) m.set_amount(amount);
  return m;
}

void ProduceTouchpoints(const std::string& brokers,
                        const std::vector<v1::Touchpoint>& touchpoints) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
  conf->set("bootstrap.servers", brokers, error);
  conf->set("enable.idempotence", "true", error);
  conf->set("linger.ms", "5", error);
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), error));
  ASSERT_NE(producer, nullptr) << error;
  const std::string topic = TestTopic("crm.touchpoints");
  std::string value;
  for (const v1::Touchpoint& m : touchpoints) {
    m.SerializeToString(&value);
    const std::string& key = m.customer_id();
    RdKafka::ErrorCode err;
    do {
      err = producer->produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                              value.data(), value.size(), key.data(), key.size(), 0, nullptr,
                              nullptr);
      if (err == RdKafka::ERR__QUEUE_FULL) producer->poll(10);
    } while (err == RdKafka::ERR__QUEUE_FULL);
    ASSERT_EQ(err, RdKafka::ERR_NO_ERROR) << RdKafka::err2str(err);
    producer->poll(0);
  }
  ASSERT_EQ(producer->flush(30'000), RdKafka::ERR_NO_ERROR);
}

void ProduceRecords(const std::string& brokers, const std::string& topic,
                    const std::vector<TestRecord>& records) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
  conf->set("bootstrap.servers", brokers, error);
  conf->set("message.max.bytes", "4000000", error);  // room for oversized records
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), error));
  ASSERT_NE(producer, nullptr) << error;
  for (const TestRecord& record : records) {
    RdKafka::Headers* headers = RdKafka::Headers::create();
    for (const auto& [name, value] : record.headers) headers->add(name, value);
    const RdKafka::ErrorCode err = producer->produce(
        TestTopic(topic), RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
        const_cast<char*>(record.value.data()), record.value.size(), record.key.data(),
        record.key.size(), 0, headers, nullptr);
    if (err != RdKafka::ERR_NO_ERROR) delete headers;  // owned by the message once produced
    ASSERT_EQ(err, RdKafka::ERR_NO_ERROR) << RdKafka::err2str(err);
    producer->poll(0);
  }
  ASSERT_EQ(producer->flush(30'000), RdKafka::ERR_NO_ERROR);
}

std::vector<TestRecord> ReadTopic(const std::string& brokers, const std::string& contract_topic,
                                  int partitions, std::chrono::milliseconds wait) {
  const std::string topic = TestTopic(contract_topic);
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
  conf->set("bootstrap.servers", brokers, error);
  conf->set("group.id", "test-reader", error);
  conf->set("enable.auto.commit", "false", error);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(conf.get(), error));
  if (OnExternalKafka()) {  // every partition the cluster gave the topic
    std::unique_ptr<RdKafka::Topic> handle(
        RdKafka::Topic::create(consumer.get(), topic, nullptr, error));
    RdKafka::Metadata* metadata = nullptr;
    if (handle != nullptr &&
        consumer->metadata(false, handle.get(), &metadata, 5000) == RdKafka::ERR_NO_ERROR) {
      if (metadata->topics()->size() == 1) {
        partitions = std::max<int>(
            partitions, static_cast<int>(metadata->topics()->front()->partitions()->size()));
      }
    }
    delete metadata;
  }
  std::vector<RdKafka::TopicPartition*> assignment;
  for (int p = 0; p < partitions; ++p) {
    assignment.push_back(
        RdKafka::TopicPartition::create(topic, p, RdKafka::Topic::OFFSET_BEGINNING));
  }
  consumer->assign(assignment);
  std::vector<TestRecord> records;
  const auto until = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < until) {
    std::unique_ptr<RdKafka::Message> message(consumer->consume(100));
    if (message->err() != RdKafka::ERR_NO_ERROR) continue;
    TestRecord& record = records.emplace_back();
    if (const std::string* key = message->key()) record.key = *key;
    record.value.assign(static_cast<const char*>(message->payload()), message->len());
    if (const RdKafka::Headers* headers = message->headers()) {
      for (const RdKafka::Headers::Header& h : headers->get_all()) {
        record.headers[h.key()] =
            h.value() == nullptr ? ""
                                 : std::string(static_cast<const char*>(h.value()), h.value_size());
      }
    }
    record.partition = message->partition();
    record.offset = message->offset();
  }
  RdKafka::TopicPartition::destroy(assignment);
  consumer->close();
  return records;
}

}  // namespace crm::testing
