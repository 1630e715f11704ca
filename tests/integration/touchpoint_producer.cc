#include "tests/integration/touchpoint_producer.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include <memory>

namespace crm::testing {

void ProduceTouchpoints(const std::string& brokers,
                        const std::vector<v1::Touchpoint>& touchpoints) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
  conf->set("bootstrap.servers", brokers, error);
  conf->set("enable.idempotence", "true", error);
  conf->set("linger.ms", "5", error);
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), error));
  ASSERT_NE(producer, nullptr) << error;
  std::string value;
  for (const v1::Touchpoint& m : touchpoints) {
    m.SerializeToString(&value);
    const std::string& key = m.customer_id();
    RdKafka::ErrorCode err;
    do {
      err = producer->produce("crm.touchpoints", RdKafka::Topic::PARTITION_UA,
                              RdKafka::Producer::RK_MSG_COPY, value.data(), value.size(),
                              key.data(), key.size(), 0, nullptr, nullptr);
      if (err == RdKafka::ERR__QUEUE_FULL) producer->poll(10);
    } while (err == RdKafka::ERR__QUEUE_FULL);
    ASSERT_EQ(err, RdKafka::ERR_NO_ERROR) << RdKafka::err2str(err);
    producer->poll(0);
  }
  ASSERT_EQ(producer->flush(30'000), RdKafka::ERR_NO_ERROR);
}

}  // namespace crm::testing
