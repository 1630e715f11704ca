#include "services/kafka/cluster_topic.h"

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <map>
#include <optional>

#include "core/clock.h"
#include "crm/internal/cluster.pb.h"
#include "services/common/log.h"

namespace crm {
namespace {

constexpr std::string_view kComponent = "cluster";
constexpr std::string_view kMemberKey = "member/";
constexpr std::string_view kPopulationKey = "population/";

// A name read from the topic, as the log shows it: at most 128 bytes (the
// log escapes what it cannot show).
std::string Shown(std::string_view name) {
  constexpr std::size_t kShown = 128;
  return name.size() <= kShown ? std::string(name) : std::string(name.substr(0, kShown)) + "…";
}

}  // namespace

absl::StatusOr<std::unique_ptr<KafkaCluster>> KafkaCluster::Create(
    const ClusterTopicOptions& options, const Clock& clock, ClusterView* view,
    RemotePopulationInbox* population) {
  if (options.brokers.empty()) return absl::InvalidArgumentError("cluster: no brokers given");
  std::unique_ptr<KafkaCluster> cluster(new KafkaCluster());
  cluster->options_ = options;
  cluster->clock_ = &clock;
  cluster->view_ = view;
  cluster->population_ = population;
  cluster->started_at_ = clock.Now();
  auto producer_conf = MakeKafkaConf({{"bootstrap.servers", options.brokers},
                                      {"client.id", "crm-scored-cluster"},
                                      {"compression.type", "lz4"},
                                      {"linger.ms", "5"}},
                                     options.properties);
  if (!producer_conf.ok()) return producer_conf.status();
  std::string error;
  cluster->producer_.reset(RdKafka::Producer::create(producer_conf->get(), error));
  if (!cluster->producer_) return absl::InvalidArgumentError("cluster producer: " + error);

  auto consumer_conf = MakeKafkaConf({{"bootstrap.servers", options.brokers},
                                      {"group.id", options.group + ".cluster"},
                                      {"client.id", "crm-scored-cluster"},
                                      {"enable.auto.commit", "false"},
                                      {"fetch.wait.max.ms", "100"}},
                                     options.properties);
  if (!consumer_conf.ok()) return consumer_conf.status();
  cluster->consumer_.reset(RdKafka::KafkaConsumer::create(consumer_conf->get(), error));
  if (!cluster->consumer_) return absl::InvalidArgumentError("cluster reader: " + error);
  // Every partition of the topic, from its start: the latest record of each
  // key is what counts.
  std::unique_ptr<RdKafka::Topic> topic(
      RdKafka::Topic::create(cluster->consumer_.get(), options.topic, nullptr, error));
  RdKafka::Metadata* raw = nullptr;
  if (!topic ||
      cluster->consumer_->metadata(false, topic.get(), &raw, 10'000) != RdKafka::ERR_NO_ERROR) {
    return absl::UnavailableError("cluster topic " + options.topic + ": no metadata");
  }
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  std::vector<RdKafka::TopicPartition*> assignment;
  std::map<std::int32_t, std::int64_t> ends;  // each partition's end when we started
  for (const RdKafka::TopicMetadata* t : *metadata->topics()) {
    if (t->topic() != options.topic || t->err() != RdKafka::ERR_NO_ERROR) continue;
    for (const RdKafka::PartitionMetadata* p : *t->partitions()) {
      assignment.push_back(RdKafka::TopicPartition::create(options.topic, p->id(),
                                                           RdKafka::Topic::OFFSET_BEGINNING));
      std::int64_t low = 0, high = 0;
      if (cluster->consumer_->query_watermark_offsets(options.topic, p->id(), &low, &high,
                                                      10'000) == RdKafka::ERR_NO_ERROR &&
          high > low) {
        ends[p->id()] = high;
      }
    }
  }
  if (assignment.empty()) {
    return absl::InvalidArgumentError(
        "cluster topic " + options.topic +
        " does not exist: create it (compacted, 1 partition), or give --cluster-topic none "
        "to run a single instance");
  }
  const RdKafka::ErrorCode assigned = cluster->consumer_->assign(assignment);
  for (RdKafka::TopicPartition* p : assignment) delete p;
  if (assigned != RdKafka::ERR_NO_ERROR) {
    return absl::InternalError("cluster assign: " + RdKafka::err2str(assigned));
  }
  // What the others said before this instance started, read before it
  // serves: else it could forward to an instance whose leaving it has not
  // read yet.
  // Only each key's latest record is applied, once all are read: the view
  // never shows a claim whose removal comes later in the topic.
  std::map<std::string, std::optional<std::string>> latest;
  const Timestamp deadline = clock.Now() + std::chrono::seconds(10);
  while (!ends.empty() && clock.Now() < deadline) {
    std::unique_ptr<RdKafka::Message> message(cluster->consumer_->consume(100));
    if (message->err() != RdKafka::ERR_NO_ERROR) continue;
    if (message->key() != nullptr) {
      latest[*message->key()] =
          message->payload() == nullptr
              ? std::nullopt
              : std::optional<std::string>(
                    std::string(static_cast<const char*>(message->payload()), message->len()));
    }
    if (auto end = ends.find(message->partition());
        end != ends.end() && message->offset() + 1 >= end->second) {
      ends.erase(end);
    }
  }
  if (!ends.empty()) {
    CRM_LOG(kWarning, kComponent) << "cluster topic " << options.topic
                                  << " not read to its end in 10 s: going on with what was read";
  }
  for (const auto& [key, value] : latest) cluster->Apply(key, value ? &*value : nullptr);
  cluster->thread_ = std::thread([c = cluster.get()] { c->Run(); });
  return cluster;
}

KafkaCluster::~KafkaCluster() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (consumer_) consumer_->close();
  if (producer_) {
    // Gone: the others stop sending lookups here at once, not after a ttl.
    const std::string key = std::string(kMemberKey) + options_.group + "/" + options_.instance;
    producer_->produce(options_.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                       nullptr, 0, key.data(), key.size(), 0, nullptr);
    producer_->flush(5000);
  }
}

void KafkaCluster::Claim(std::set<std::int32_t> partitions, std::int32_t partition_count) {
  {
    absl::MutexLock lock(&mutex_);
    claim_ = ClusterMember{.instance = options_.instance,
                           .address = options_.address,
                           .partitions = std::move(partitions),
                           .partition_count = partition_count};
  }
  PublishClaim();
}

void KafkaCluster::PublishClaim() {
  internal::Member member;
  {
    absl::MutexLock lock(&mutex_);
    if (!claim_) return;
    claim_->published_at = clock_->Now();
    member.set_instance(claim_->instance);
    member.set_grpc_address(claim_->address);
    for (std::int32_t p : claim_->partitions) member.add_partitions(p);
    member.set_partition_count(claim_->partition_count);
    member.set_published_at_us(ToMicros(claim_->published_at));
    member.set_started_at_us(ToMicros(started_at_));
    view_->Update(*claim_, claim_->published_at);  // this instance knows itself at once
  }
  const std::string key = std::string(kMemberKey) + options_.group + "/" + options_.instance;
  std::string value = member.SerializeAsString();
  const RdKafka::ErrorCode err = producer_->produce(
      options_.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY, value.data(),
      value.size(), key.data(), key.size(), 0, nullptr);
  if (err != RdKafka::ERR_NO_ERROR) {
    CRM_LOG(kWarning, kComponent) << "cannot publish this instance's claim: "
                                  << RdKafka::err2str(err);
  }
}

void KafkaCluster::PublishPopulation(std::int32_t partition,
                                     const std::vector<PopulationCell>& cells) {
  internal::PopulationCells message;
  message.set_instance(options_.instance);
  message.set_partition(partition);
  for (const PopulationCell& cell : cells) {
    message.add_axes(static_cast<std::uint32_t>(cell.axis));
    message.add_buckets(cell.bucket);
    message.add_counts(cell.count);
  }
  message.set_published_at_us(ToMicros(clock_->Now()));
  const std::string key =
      std::string(kPopulationKey) + options_.group + "/" + std::to_string(partition);
  std::string value = message.SerializeAsString();
  const RdKafka::ErrorCode err = producer_->produce(
      options_.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY, value.data(),
      value.size(), key.data(), key.size(), 0, nullptr);
  if (err != RdKafka::ERR_NO_ERROR) {
    CRM_LOG(kWarning, kComponent) << "cannot publish the population of partition " << partition
                                  << ": " << RdKafka::err2str(err);
  }
}

void KafkaCluster::Apply(const std::string& key, const std::string* value) {
  const std::string members = std::string(kMemberKey) + options_.group + "/";
  const std::string populations = std::string(kPopulationKey) + options_.group + "/";
  if (key.starts_with(members)) {
    const std::string instance = key.substr(members.size());
    if (instance == options_.instance) return;  // known first-hand
    if (value == nullptr) {
      view_->Remove(instance);
      CRM_LOG(kInfo, kComponent) << "instance " << Shown(instance) << " left";
      return;
    }
    internal::Member member;
    if (!member.ParseFromString(*value)) {
      Ignore(key, "unreadable");
      return;
    }
    ClusterMember claim{.instance = member.instance(),
                        .address = member.grpc_address(),
                        .partitions = {member.partitions().begin(), member.partitions().end()},
                        .partition_count = member.partition_count(),
                        .published_at = FromMicros(member.published_at_us())};
    if (std::string problem = ClusterMemberProblem(instance, claim); !problem.empty()) {
      Ignore(key, problem);
      return;
    }
    view_->Update(std::move(claim), clock_->Now());
  } else if (key.starts_with(populations) && value != nullptr) {
    internal::PopulationCells message;
    if (!message.ParseFromString(*value) || message.axes_size() != message.buckets_size() ||
        message.axes_size() != message.counts_size()) {
      Ignore(key, "unreadable");
      return;
    }
    if (message.instance() == options_.instance) return;
    if (key.substr(populations.size()) != std::to_string(message.partition())) {
      Ignore(key, "its payload names another partition than its key");
      return;
    }
    std::vector<PopulationCell> cells;
    cells.reserve(std::min<std::size_t>(static_cast<std::size_t>(message.axes_size()),
                                        kMaxPublishedCells + 1));
    for (int i = 0; i < message.axes_size() && cells.size() <= kMaxPublishedCells; ++i) {
      cells.push_back({message.partition(),
                       message.axes(i) < static_cast<std::uint32_t>(kPopulationAxisCount)
                           ? static_cast<PopulationAxis>(message.axes(i))
                           : PopulationAxis{0xff},
                       message.buckets(i), message.counts(i)});
    }
    if (std::string problem = PublishedCellsProblem(message.partition(), cells); !problem.empty()) {
      Ignore(key, problem);
      return;
    }
    population_->Put(message.partition(), std::move(cells));
  }
}

void KafkaCluster::Ignore(const std::string& key, std::string_view why) {
  view_->CountIgnoredRecord();
  CRM_LOG(kWarning, kComponent) << "record " << Shown(key) << " on " << options_.topic
                                << " ignored: " << why;
}

void KafkaCluster::Run() {
  Timestamp last_heartbeat = clock_->Now();
  while (!stop_.load()) {
    std::unique_ptr<RdKafka::Message> message(consumer_->consume(100));
    if (message->err() == RdKafka::ERR_NO_ERROR && message->key() != nullptr) {
      std::string value(static_cast<const char*>(message->payload()), message->len());
      Apply(*message->key(), message->payload() == nullptr ? nullptr : &value);
    }
    producer_->poll(0);
    // Due after heartbeat_ms, or at once if the clock went back.
    if (const Timestamp now = clock_->Now();
        now - last_heartbeat > std::chrono::milliseconds(options_.heartbeat_ms) ||
        now < last_heartbeat) {
      last_heartbeat = now;
      PublishClaim();
      view_->Prune(now);
    }
  }
}

}  // namespace crm
