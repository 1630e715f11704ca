#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/workload.h"

namespace crm::bench {

// A producer for the benchmark: `linger_ms` 0 for probes, more for load.
absl::StatusOr<std::unique_ptr<RdKafka::Producer>> MakeBenchProducer(const std::string& brokers,
                                                                     int linger_ms);

// Produces `record` to `topic` (partitioned by key), waiting while the queue is full.
absl::Status Produce(RdKafka::Producer& producer, const std::string& topic, const Record& record);

// Produces every record and waits for their delivery; progress on stderr.
absl::Status ProduceAll(const std::string& brokers, const std::string& topic,
                        const std::vector<Record>& records);

// Every partition's low and high watermarks.
struct Watermarks {
  std::vector<std::int64_t> low, high;
  std::int64_t total() const;  // high - low, summed
};
absl::StatusOr<Watermarks> QueryWatermarks(RdKafka::Handle& handle, const std::string& topic,
                                           int partitions);

// A bare librdkafka consumer reading `count` records from the beginning of
// every partition, as fast as it can.
struct DrainResult {
  std::int64_t records = 0;
  std::int64_t bytes = 0;
  double seconds = 0;            // first record to last
  double cpu_us_per_record = 0;  // this process's CPU (librdkafka's threads included)
  double rate() const { return seconds > 0 ? static_cast<double>(records - 1) / seconds : 0; }
};
absl::StatusOr<DrainResult> Drain(const std::string& brokers, const std::string& topic,
                                  int partitions, std::int64_t count);

// The offsets a consumer group committed, read without joining the group.
class GroupOffsets {
 public:
  static absl::StatusOr<std::unique_ptr<GroupOffsets>> Create(const std::string& brokers,
                                                              const std::string& group,
                                                              const std::string& topic,
                                                              int partitions);
  ~GroupOffsets();
  // The committed offsets, summed (partitions with none count 0); -1 on error.
  std::int64_t Committed();

 private:
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::vector<RdKafka::TopicPartition*> partitions_;
};

// Produces touchpoints of `customers` (ids of an earlier workload) at `rate` a
// second, stamped with the wall clock, on its own thread until stopped.
class LoadGenerator {
 public:
  LoadGenerator(std::string brokers, std::string topic, std::vector<std::string> customers,
                double rate, std::uint64_t seed);
  ~LoadGenerator();  // stops
  absl::Status Start();
  // Stops producing and delivers what is queued.
  void Stop();
  std::int64_t produced() const { return produced_.load(); }
  double achieved_rate() const { return achieved_rate_; }

 private:
  void Run();

  std::string brokers_, topic_;
  std::vector<std::string> customers_;
  double rate_;
  std::uint64_t seed_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> produced_{0};
  double achieved_rate_ = 0;
  std::unique_ptr<std::thread> thread_;
};

}  // namespace crm::bench
