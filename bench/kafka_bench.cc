#include "bench/kafka_bench.h"

#include <sys/resource.h>

#include <chrono>
#include <iostream>
#include <random>
#include <thread>

#include "services/kafka/kafka_config.h"
#include "tools/command_line.h"

namespace crm::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

absl::StatusOr<std::unique_ptr<RdKafka::Conf>> ConsumerConf(const std::string& brokers,
                                                            const std::string& group) {
  return MakeKafkaConf({{"bootstrap.servers", brokers},
                        {"group.id", group},
                        {"enable.auto.commit", "false"},
                        {"enable.partition.eof", "false"},
                        {"fetch.wait.max.ms", "10"}});
}

}  // namespace

absl::StatusOr<std::unique_ptr<RdKafka::Producer>> MakeBenchProducer(const std::string& brokers,
                                                                     int linger_ms) {
  return MakeProducer(brokers,
                      {"linger.ms=" + std::to_string(linger_ms),
                       "queue.buffering.max.messages=1000000", "batch.size=1000000"},
                      nullptr);
}

absl::Status Produce(RdKafka::Producer& producer, const std::string& topic, const Record& record) {
  for (;;) {
    const RdKafka::ErrorCode err =
        producer.produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                         const_cast<char*>(record.value.data()), record.value.size(),
                         record.key.data(), record.key.size(), 0, nullptr);
    if (err == RdKafka::ERR_NO_ERROR) return absl::OkStatus();
    if (err != RdKafka::ERR__QUEUE_FULL) {
      return absl::UnavailableError("produce: " + RdKafka::err2str(err));
    }
    producer.poll(1);
  }
}

absl::Status ProduceAll(const std::string& brokers, const std::string& topic,
                        const std::vector<Record>& records) {
  auto producer = MakeBenchProducer(brokers, 20);
  if (!producer.ok()) return producer.status();
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (absl::Status s = Produce(**producer, topic, records[i]); !s.ok()) return s;
    (*producer)->poll(0);
    if ((i + 1) % 250'000 == 0) std::cerr << "  produced " << (i + 1) << "\n";
  }
  if ((*producer)->flush(120'000) != RdKafka::ERR_NO_ERROR) {
    return absl::DeadlineExceededError("the producer did not deliver everything in 120 s");
  }
  return absl::OkStatus();
}

std::int64_t Watermarks::total() const {
  std::int64_t sum = 0;
  for (std::size_t i = 0; i < high.size(); ++i) sum += high[i] - low[i];
  return sum;
}

absl::StatusOr<Watermarks> QueryWatermarks(RdKafka::Handle& handle, const std::string& topic,
                                           int partitions) {
  Watermarks marks;
  for (int p = 0; p < partitions; ++p) {
    std::int64_t low = 0, high = 0;
    const RdKafka::ErrorCode err = handle.query_watermark_offsets(topic, p, &low, &high, 10'000);
    if (err != RdKafka::ERR_NO_ERROR) {
      return absl::UnavailableError("watermarks of " + topic + "[" + std::to_string(p) +
                                    "]: " + RdKafka::err2str(err));
    }
    marks.low.push_back(low);
    marks.high.push_back(high);
  }
  return marks;
}

absl::StatusOr<DrainResult> Drain(const std::string& brokers, const std::string& topic,
                                  int partitions, std::int64_t count) {
  std::string error;
  auto conf = ConsumerConf(brokers, "crm-bench-raw");
  if (!conf.ok()) return conf.status();
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(conf->get(), error));
  if (!consumer) return absl::InternalError("consumer: " + error);
  std::vector<RdKafka::TopicPartition*> assignment;
  for (int p = 0; p < partitions; ++p) {
    assignment.push_back(
        RdKafka::TopicPartition::create(topic, p, RdKafka::Topic::OFFSET_BEGINNING));
  }
  consumer->assign(assignment);
  RdKafka::TopicPartition::destroy(assignment);

  DrainResult result;
  SteadyClock::time_point first{}, last{};
  double cpu_first = 0;
  auto idle_since = SteadyClock::now();
  while (result.records < count) {
    std::unique_ptr<RdKafka::Message> message(consumer->consume(100));
    if (message->err() == RdKafka::ERR_NO_ERROR) {
      last = SteadyClock::now();
      if (result.records == 0) {
        first = last;
        cpu_first = CpuSeconds();
      }
      ++result.records;
      result.bytes += static_cast<std::int64_t>(message->len());
      idle_since = last;
    } else if (SteadyClock::now() - idle_since > std::chrono::seconds(30)) {
      break;
    }
  }
  result.seconds = Seconds(last - first);
  if (result.records > 1) {
    result.cpu_us_per_record =
        (CpuSeconds() - cpu_first) * 1e6 / static_cast<double>(result.records - 1);
  }
  consumer->close();
  if (result.records < count) {
    return absl::DataLossError("the bare consumer read " + std::to_string(result.records) +
                               " records of " + std::to_string(count));
  }
  return result;
}

absl::StatusOr<std::unique_ptr<GroupOffsets>> GroupOffsets::Create(const std::string& brokers,
                                                                   const std::string& group,
                                                                   const std::string& topic,
                                                                   int partitions) {
  std::string error;
  auto conf = ConsumerConf(brokers, group);
  if (!conf.ok()) return conf.status();
  std::unique_ptr<GroupOffsets> offsets(new GroupOffsets());
  offsets->consumer_.reset(RdKafka::KafkaConsumer::create(conf->get(), error));
  if (!offsets->consumer_) return absl::InternalError("consumer: " + error);
  for (int p = 0; p < partitions; ++p) {
    offsets->partitions_.push_back(RdKafka::TopicPartition::create(topic, p));
  }
  return offsets;
}

GroupOffsets::~GroupOffsets() {
  RdKafka::TopicPartition::destroy(partitions_);
  if (consumer_) consumer_->close();
}

std::int64_t GroupOffsets::Committed() {
  if (consumer_->committed(partitions_, 5000) != RdKafka::ERR_NO_ERROR) return -1;
  std::int64_t sum = 0;
  for (const RdKafka::TopicPartition* partition : partitions_) {
    if (partition->offset() >= 0) sum += partition->offset();
  }
  return sum;
}

LoadGenerator::LoadGenerator(std::string brokers, std::string topic,
                             std::vector<std::string> customers, double rate, std::uint64_t seed)
    : brokers_(std::move(brokers)),
      topic_(std::move(topic)),
      customers_(std::move(customers)),
      rate_(rate),
      seed_(seed) {}

LoadGenerator::~LoadGenerator() { Stop(); }

absl::Status LoadGenerator::Start() {
  auto producer = MakeBenchProducer(brokers_, 5);
  if (!producer.ok()) return producer.status();
  producer_ = std::move(*producer);
  thread_ = std::make_unique<std::thread>([this] { Run(); });
  return absl::OkStatus();
}

void LoadGenerator::Stop() {
  if (!thread_) return;
  stop_ = true;
  thread_->join();
  thread_.reset();
  producer_->flush(30'000);
}

void LoadGenerator::Run() {
  std::mt19937_64 rng(seed_);
  std::uniform_int_distribution<std::size_t> customer(0, customers_.size() - 1);
  std::uniform_int_distribution<int> kind(0, 99);
  const auto started = SteadyClock::now();
  std::int64_t sent = 0;
  Touchpoint touchpoint;
  while (!stop_.load()) {
    const double elapsed = Seconds(SteadyClock::now() - started);
    const auto due = static_cast<std::int64_t>(elapsed * rate_);
    for (; sent < due && !stop_.load(); ++sent) {
      // The demo's mix: mostly visits, some purchases, a few calls and complaints.
      const int k = kind(rng);
      touchpoint = Touchpoint{};
      touchpoint.customer_id = CustomerId(customers_[customer(rng)]);
      touchpoint.event_id = "load-" + std::to_string(seed_) + "-" + std::to_string(sent);
      touchpoint.occurred_at = std::chrono::floor<Micros>(std::chrono::system_clock::now());
      if (k < 20) {
        touchpoint.type = TouchpointType::kPurchase;
        touchpoint.channel = k < 10 ? Channel::kWeb : Channel::kFaceToFace;
        touchpoint.amount = 10.0 + static_cast<double>(k) * 7.5;
        touchpoint.product = "P" + std::to_string(k % 12);
      } else if (k < 25) {
        touchpoint.type = TouchpointType::kComplaint;
        touchpoint.channel = Channel::kPhone;
      } else {
        touchpoint.type = TouchpointType::kContact;
        touchpoint.channel = k < 60 ? Channel::kWeb : (k < 90 ? Channel::kMobile : Channel::kEmail);
      }
      const Record record{touchpoint.customer_id.value(), Encode(touchpoint)};
      if (!Produce(*producer_, topic_, record).ok()) return;
      produced_.fetch_add(1);
    }
    producer_->poll(0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  achieved_rate_ = static_cast<double>(sent) / Seconds(SteadyClock::now() - started);
}

}  // namespace crm::bench
