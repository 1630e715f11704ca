#include "services/kafka/touchpoint_consumer.h"

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "services/codec/touchpoint_codec.h"
#include "services/common/log.h"

namespace crm {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kComponent = "consumer";
constexpr int kRejectsLoggedPerSecond = 20;

void DeletePartitions(std::vector<RdKafka::TopicPartition*>& partitions) {
  RdKafka::TopicPartition::destroy(partitions);
}

std::string_view ContentType(RdKafka::Message& message) {
  const RdKafka::Headers* headers = message.headers();
  if (headers == nullptr) return {};
  for (const RdKafka::Headers::Header& header : headers->get_all()) {
    if (header.key() == "content-type" && header.value() != nullptr) {
      return {static_cast<const char*>(header.value()), header.value_size()};
    }
  }
  return {};
}

}  // namespace

// librdkafka's callbacks, run on the consumer thread from inside consume().
class TouchpointConsumer::Callbacks final : public RdKafka::RebalanceCb, public RdKafka::EventCb {
 public:
  explicit Callbacks(TouchpointConsumer* owner) : owner_(owner) {}

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    ++generation_;
    const bool cooperative = consumer->rebalance_protocol() == "COOPERATIVE";
    std::vector<RdKafka::TopicPartition*> unrestored;  // assigned, not consumed
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      for (RdKafka::TopicPartition* partition : partitions) {
        if (owner_->options_.restore_from_changelog &&
            partition->topic() == owner_->options_.topic) {
          failed_.erase(partition->partition());
          absl::Status restored = owner_->Restore(partition->partition());
          if (absl::IsDataLoss(restored)) {
            // This partition only: owned (its customers answered UNAVAILABLE
            // here, not elsewhere), not consumed, until a new assignment.
            owner_->RestoreFailed(partition->partition(), restored);
            failed_.insert(partition->partition());
            unrestored.push_back(partition);
          } else if (!restored.ok()) {
            fatal_ = restored;
            return;
          }
        }
        auto stored = owner_->store_->GetOffset(partition->topic(), partition->partition());
        if (!stored.ok()) {
          fatal_ = stored.status();
          return;
        }
        partition->set_offset(stored->value_or(RdKafka::Topic::OFFSET_BEGINNING));
        CRM_LOG(kInfo, kComponent)
            << "assigned " << partition->topic() << "[" << partition->partition() << "] from "
            << (*stored ? "stored offset " + std::to_string(**stored)
                        : std::string("the beginning"));
      }
      if (cooperative) {
        if (RdKafka::Error* error = consumer->incremental_assign(partitions)) {
          fatal_ = absl::InternalError("incremental_assign: " + error->str());
          delete error;
        }
      } else if (RdKafka::ErrorCode e = consumer->assign(partitions); e != RdKafka::ERR_NO_ERROR) {
        fatal_ = absl::InternalError("assign: " + RdKafka::err2str(e));
      }
      if (!unrestored.empty()) {
        if (RdKafka::ErrorCode e = consumer->pause(unrestored); e != RdKafka::ERR_NO_ERROR) {
          fatal_ = absl::InternalError("pause: " + RdKafka::err2str(e));
        }
      }
    } else {
      CRM_LOG(kInfo, kComponent) << "revoked " << partitions.size() << " partitions";
      if (cooperative) {
        if (RdKafka::Error* error = consumer->incremental_unassign(partitions)) delete error;
      } else {
        consumer->unassign();
      }
    }
    // The processor's looks and caches follow the assignment, kept here:
    // asking librdkafka for it from this callback can deadlock during close().
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      if (!cooperative) assigned_.clear();
      for (const RdKafka::TopicPartition* partition : partitions) {
        if (partition->topic() == owner_->options_.topic) assigned_.insert(partition->partition());
      }
    } else if (cooperative) {
      for (const RdKafka::TopicPartition* partition : partitions) {
        if (partition->topic() == owner_->options_.topic) {
          assigned_.erase(partition->partition());
          failed_.erase(partition->partition());
        }
      }
    } else {
      assigned_.clear();
      failed_.clear();
    }
    if (owner_->hooks_.restoring != nullptr) {
      // How many partitions there are (asked only on an assignment: a revoke
      // may run inside close(), where a broker request must not be made).
      if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
        if (const std::int32_t count = owner_->PartitionCount(consumer); count > 0) {
          partition_count_ = count;
        }
      }
      owner_->hooks_.restoring->SetOwned(assigned_, partition_count_);
    }
    if (owner_->hooks_.restoring != nullptr && err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      const Timestamp now = WallClock().Now();
      for (const RdKafka::TopicPartition* partition : partitions) {
        if (partition->topic() == owner_->options_.topic) {
          owner_->hooks_.restoring->Committed(partition->partition(), now);
        }
      }
    }
    // Restored by now: lookups may come here for these.
    if (owner_->hooks_.cluster != nullptr)
      owner_->hooks_.cluster->Claim(assigned_, partition_count_);
    // The processor looks at the partitions it consumes only.
    std::vector<std::int32_t> ours;
    for (std::int32_t p : assigned_) {
      if (!failed_.contains(p)) ours.push_back(p);
    }
    if (absl::Status set = owner_->processor_->SetAssignment(ours); !set.ok() && fatal_.ok()) {
      fatal_ = set;
    }
  }

  void event_cb(RdKafka::Event& event) override {
    switch (event.type()) {
      case RdKafka::Event::EVENT_ERROR:
        if (event.fatal()) {
          fatal_ = absl::InternalError("fatal Kafka error: " + event.str());
        } else {
          if (event.err() == RdKafka::ERR__ALL_BROKERS_DOWN) brokers_down_ = true;
          CRM_LOG(kWarning, "kafka") << RdKafka::err2str(event.err()) << ": " << event.str();
        }
        break;
      case RdKafka::Event::EVENT_LOG:
        RouteKafkaLog(event.severity(), event.fac().c_str(), event.str().c_str());
        break;
      default:
        break;
    }
  }

  std::uint64_t generation() const { return generation_; }
  const absl::Status& fatal() const { return fatal_; }
  // Whether librdkafka reported every broker down since the last call.
  bool TakeBrokersDown() { return std::exchange(brokers_down_, false); }

 private:
  TouchpointConsumer* owner_;
  std::uint64_t generation_ = 0;
  absl::Status fatal_;
  bool brokers_down_ = false;
  std::set<std::int32_t> assigned_;   // partitions of the input topic assigned now
  std::set<std::int32_t> failed_;     // of those, the ones whose restore failed (paused)
  std::int32_t partition_count_ = 0;  // of the input topic, as last learnt
};

absl::StatusOr<std::unique_ptr<TouchpointConsumer>> TouchpointConsumer::Create(
    const ConsumerOptions& options, IngestProcessor* processor, StateStore* store,
    IngestProbe* probe, ConsumerHooks hooks) {
  if (options.brokers.empty()) return absl::InvalidArgumentError("no brokers given");
  KafkaProperties properties = {{"bootstrap.servers", options.brokers},
                                {"group.id", options.group},
                                {"client.id", "crm-scored"},
                                {"enable.auto.commit", "false"},
                                {"enable.auto.offset.store", "false"},
                                {"auto.offset.reset", "earliest"},
                                {"enable.partition.eof", "false"},
                                {"fetch.wait.max.ms", "20"}};
  auto conf = MakeKafkaConf(std::move(properties), options.properties);
  if (!conf.ok()) return conf.status();

  std::unique_ptr<TouchpointConsumer> consumer(new TouchpointConsumer());
  consumer->options_ = options;
  consumer->processor_ = processor;
  consumer->store_ = store;
  consumer->probe_ = probe;
  consumer->hooks_ = std::move(hooks);
  consumer->callbacks_ = std::make_unique<Callbacks>(consumer.get());
  std::string error;
  if ((*conf)->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(consumer->callbacks_.get()),
                   error) != RdKafka::Conf::CONF_OK ||
      (*conf)->set("event_cb", static_cast<RdKafka::EventCb*>(consumer->callbacks_.get()), error) !=
          RdKafka::Conf::CONF_OK) {
    return absl::InternalError(error);
  }
  consumer->consumer_.reset(RdKafka::KafkaConsumer::create(conf->get(), error));
  if (!consumer->consumer_) return absl::InvalidArgumentError("Kafka consumer: " + error);
  return consumer;
}

TouchpointConsumer::~TouchpointConsumer() = default;

std::int32_t TouchpointConsumer::PartitionCount(RdKafka::KafkaConsumer* consumer) {
  std::string error;
  std::unique_ptr<RdKafka::Topic> topic(
      RdKafka::Topic::create(consumer, options_.topic, nullptr, error));
  if (!topic) return 0;
  RdKafka::Metadata* raw = nullptr;
  if (consumer->metadata(/*all_topics=*/false, topic.get(), &raw, 5000) != RdKafka::ERR_NO_ERROR) {
    delete raw;
    return 0;
  }
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  for (const RdKafka::TopicMetadata* described : *metadata->topics()) {
    if (described->topic() == options_.topic) {
      return static_cast<std::int32_t>(described->partitions()->size());
    }
  }
  return 0;
}

bool TouchpointConsumer::BrokersAnswer(int timeout_ms) {
  RdKafka::Metadata* raw = nullptr;
  const RdKafka::ErrorCode err =
      consumer_->metadata(/*all_topics=*/false, nullptr, &raw, timeout_ms);
  delete raw;
  return err == RdKafka::ERR_NO_ERROR;
}

absl::Status TouchpointConsumer::Restore(std::int32_t partition) {
  const auto started = std::chrono::steady_clock::now();
  auto last_log = started;
  std::uint64_t reported = 0;
  const std::string name = options_.topic + "[" + std::to_string(partition) + "]";
  CRM_LOG(kInfo, kComponent) << "restoring " << name << " from its changelog";
  struct Restoring {
    PartitionOwnership* partitions;
    std::int32_t partition;
    ~Restoring() {
      if (partitions != nullptr) partitions->End(partition);
    }
  } restoring{hooks_.restoring, partition};
  if (hooks_.restoring != nullptr) hooks_.restoring->Begin(partition);
  auto restored = processor_->RestorePartition(partition, [&](std::uint64_t records) {
    probe_->RestoreProgress(records - reported, false);
    reported = records;
    if (std::chrono::steady_clock::now() - last_log > std::chrono::seconds(1)) {
      last_log = std::chrono::steady_clock::now();
      CRM_LOG(kInfo, kComponent) << "restoring " << name << ": " << records
                                 << " changelog records read";
    }
  });
  if (!restored.ok()) {
    probe_->RestoreProgress(0, true);
    return absl::Status(restored.status().code(),
                        "restoring " + name + ": " + std::string(restored.status().message()));
  }
  probe_->RestoreProgress(restored->records - reported, true);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  CRM_LOG(kInfo, kComponent) << "restored " << name << " in " << seconds
                             << " s: " << restored->records << " changelog records, "
                             << restored->commits << " commits, " << restored->customers
                             << " customer states applied, " << restored->dropped
                             << " records of unfinished commits dropped, " << restored->rewritten
                             << " customers written again"
                             << (restored->new_epoch ? "; a new epoch begins" : "")
                             << (restored->from_start
                                     ? "; from the changelog's start: the local checkpoint was "
                                       "older than the tombstone retention allows trusting"
                                     : "");
  return absl::OkStatus();
}

void TouchpointConsumer::RestoreFailed(std::int32_t partition, const absl::Status& why) {
  probe_->RestoreFailed();
  if (hooks_.restoring != nullptr) hooks_.restoring->Fail(partition, std::string(why.message()));
  CRM_LOG(kError, kComponent)
      << "cannot restore " << options_.topic << "[" << partition
      << "] from its changelog: " << why.message()
      << "; its customers are answered UNAVAILABLE and its touchpoints wait, the other "
         "partitions go on (repair: README, \"A bad changelog record\")";
}

void TouchpointConsumer::RollRejectLog() {
  const auto now = std::chrono::steady_clock::now();
  if (now - reject_window_ < std::chrono::seconds(1)) return;
  if (rejects_unlogged_ > 0) {
    CRM_LOG(kWarning, kComponent)
        << "rejected " << rejects_unlogged_
        << " more records in the last second (not logged one by one: "
           "see crm_touchpoints_rejected_total and the dead-letter topic)";
  }
  reject_window_ = now;
  rejects_logged_ = 0;
  rejects_unlogged_ = 0;
}

void TouchpointConsumer::SetConnected(bool connected) {
  if (connected == connected_) return;
  connected_ = connected;
  if (connected) {
    CRM_LOG(kInfo, kComponent) << "brokers reachable again: consuming";
  } else {
    CRM_LOG(kWarning, kComponent)
        << "brokers unreachable: ingest paused, queries answered from the state";
  }
  probe_->InputConnected(connected);
  ReportIngesting();
}

void TouchpointConsumer::SetStorageFull(bool full) {
  if (full == storage_full_) return;
  storage_full_ = full;
  if (full) {
    storage_retry_ =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.storage_retry_ms);
    CRM_LOG(kError, kComponent)
        << "the disk is full: ingestion paused, queries answered from the state; the commit is "
           "tried again every "
        << options_.storage_retry_ms << " ms until space returns";
  } else {
    CRM_LOG(kInfo, kComponent) << "space again: the commit succeeded, ingestion resumed";
  }
  probe_->StorageFull(full);
  ReportIngesting();
}

void TouchpointConsumer::ReportIngesting() {
  const bool ingesting = connected_ && !storage_full_;
  if (ingesting == ingesting_) return;
  ingesting_ = ingesting;
  if (hooks_.ingesting) hooks_.ingesting(ingesting);
}

void TouchpointConsumer::Rewind() {
  std::vector<RdKafka::TopicPartition*> assigned;
  if (consumer_->assignment(assigned) != RdKafka::ERR_NO_ERROR) return;
  for (RdKafka::TopicPartition* partition : assigned) {
    auto stored = store_->GetOffset(partition->topic(), partition->partition());
    partition->set_offset(stored.ok() && *stored ? **stored : RdKafka::Topic::OFFSET_BEGINNING);
    if (RdKafka::ErrorCode err = consumer_->seek(*partition, 5000); err != RdKafka::ERR_NO_ERROR) {
      // Not fetching yet: its position is its stored offset already.
      CRM_LOG(kDebug, kComponent) << "seek " << partition->topic() << "[" << partition->partition()
                                  << "]: " << RdKafka::err2str(err);
    }
  }
  DeletePartitions(assigned);
}

void TouchpointConsumer::ReportFreshness(
    const std::vector<std::unique_ptr<RdKafka::Message>>& messages) {
  const std::int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(WallClock().Now().time_since_epoch())
          .count();
  std::vector<Micros> ages;
  ages.reserve(messages.size());
  for (const auto& message : messages) {
    const RdKafka::MessageTimestamp at = message->timestamp();
    if (at.type == RdKafka::MessageTimestamp::MSG_TIMESTAMP_NOT_AVAILABLE) continue;
    ages.push_back(std::chrono::milliseconds(now_ms - at.timestamp));
  }
  if (!ages.empty()) probe_->Visible(ages);
}

void TouchpointConsumer::SharePopulation(bool publish) {
  if (hooks_.remote_population != nullptr)
    processor_->TakeRemotePopulation(*hooks_.remote_population);
  if (!publish || hooks_.cluster == nullptr || hooks_.restoring == nullptr) return;
  const auto [owned, count] = hooks_.restoring->Owned();
  if (!owned) return;
  // The partitions whose histograms changed since their last publication;
  // every one now and then (a reader may have lost an old record).
  const auto now = std::chrono::steady_clock::now();
  // A new assignment: another may have published ours meanwhile.
  const bool all =
      now - population_refreshed_ > std::chrono::seconds(30) || *owned != population_owned_;
  population_owned_ = *owned;
  if (all) population_refreshed_ = now;
  for (std::int32_t partition : *owned) {
    const std::uint64_t version = processor_->PopulationVersion(partition);
    auto published = population_published_.find(partition);
    if (!all && published != population_published_.end() && published->second == version) {
      continue;
    }
    hooks_.cluster->PublishPopulation(partition, processor_->PopulationCells(partition));
    population_published_[partition] = version;
  }
  std::erase_if(population_published_,
                [&](const auto& entry) { return !owned->contains(entry.first); });
}

void TouchpointConsumer::CheckPartitioner(const InputRecord& record, std::int32_t partition_count) {
  if (partition_count <= 0 || record.key.empty() || partitioner_warned_) return;
  const std::int32_t expected = KafkaPartitionOf(options_.partitioner, record.key, partition_count);
  if (expected == record.partition) return;
  partitioner_warned_ = true;
  hooks_.restoring->SetPartitionerMismatch();
  CRM_LOG(kWarning, kComponent)
      << "the key of " << options_.topic << "[" << record.partition << "]@" << record.offset
      << " belongs to partition " << expected << " by --partitioner " << options_.partitioner
      << ": the producers use another partitioner; an unknown customer is answered UNAVAILABLE, "
         "not NOT_FOUND, until this instance owns every partition";
}

void TouchpointConsumer::ReportLag() {
  std::vector<RdKafka::TopicPartition*> assigned;
  if (consumer_->assignment(assigned) != RdKafka::ERR_NO_ERROR) return;
  for (RdKafka::TopicPartition* partition : assigned) {
    std::int64_t low = 0, high = 0;
    if (consumer_->get_watermark_offsets(partition->topic(), partition->partition(), &low, &high) !=
            RdKafka::ERR_NO_ERROR ||
        high < 0) {
      continue;
    }
    auto stored = store_->GetOffset(partition->topic(), partition->partition());
    const std::int64_t next = stored.ok() && *stored ? **stored : low;
    const std::int64_t lag = std::max<std::int64_t>(0, high - next);
    probe_->InputLag(partition->partition(), lag);
    if (hooks_.restoring != nullptr) hooks_.restoring->SetLag(partition->partition(), lag);
  }
  DeletePartitions(assigned);
}

absl::Status TouchpointConsumer::Run() {
  if (RdKafka::ErrorCode err = consumer_->subscribe({options_.topic});
      err != RdKafka::ERR_NO_ERROR) {
    return absl::InternalError("subscribe to " + options_.topic + ": " + RdKafka::err2str(err));
  }
  CRM_LOG(kInfo, kComponent) << "subscribed to " << options_.topic << " as group "
                             << options_.group;

  std::vector<std::unique_ptr<RdKafka::Message>> messages;
  std::vector<InputRecord> records;
  auto last_lag_report = std::chrono::steady_clock::now();
  auto last_rescore = last_lag_report;
  absl::Status result;

  auto last_probe = last_lag_report;
  auto last_population = last_lag_report;
  while (!stop_.load()) {
    RollRejectLog();
    if (storage_full_) {
      // Paused for a full disk: the failed commit's records are read again
      // from the stored offsets when its retry is due.
      const auto now = std::chrono::steady_clock::now();
      if (now < storage_retry_) {
        std::this_thread::sleep_for(
            std::min<std::chrono::steady_clock::duration>(storage_retry_ - now, 100ms));
        continue;
      }
      storage_retry_ = now + std::chrono::milliseconds(options_.storage_retry_ms);
      Rewind();
    }
    {
      const bool publish = std::chrono::steady_clock::now() - last_population >
                           std::chrono::milliseconds(options_.population_publish_ms);
      if (publish) last_population = std::chrono::steady_clock::now();
      SharePopulation(publish);
    }
    // Erasures and the scheduler run on this thread: the single writer of
    // customer state.
    if (hooks_.erasures != nullptr && hooks_.audit != nullptr) {
      if (absl::Status erased = processor_->TakeErasures(*hooks_.erasures, *hooks_.audit);
          IsStorageFull(erased)) {
        SetStorageFull(true);  // the erasure was answered with the error
      } else if (!erased.ok()) {
        result = erased;
        break;
      }
    }
    // Brokers all down: paused until one answers again (checked each second).
    if (callbacks_->TakeBrokersDown()) SetConnected(false);
    if (!connected_ && std::chrono::steady_clock::now() - last_probe > std::chrono::seconds(1)) {
      last_probe = std::chrono::steady_clock::now();
      if (BrokersAnswer(500)) SetConnected(true);
    }
    bool looks_waiting = false;
    // Not while the brokers are away: with the changelog, a commit waits for
    // them (the looks are taken once they are back).
    if (connected_ && std::chrono::steady_clock::now() - last_rescore >
                          std::chrono::milliseconds(options_.rescore_interval_ms)) {
      auto rescored = processor_->RescoreDue(options_.rescore_batch);
      if (IsStorageFull(rescored.status())) {
        SetStorageFull(true);
        continue;
      }
      if (!rescored.ok()) {
        result = rescored.status();
        break;
      }
      if (rescored->rescored > 0) SetStorageFull(false);
      // A full batch: more may be due; look again after this poll, which
      // then takes only what is already fetched.
      looks_waiting = rescored->rescored >= options_.rescore_batch;
      if (!looks_waiting) last_rescore = std::chrono::steady_clock::now();
    }
    messages.clear();
    records.clear();
    std::uint64_t generation = callbacks_->generation();
    int timeout_ms = looks_waiting ? 0 : options_.poll_timeout_ms;
    while (messages.size() < options_.max_batch) {
      std::unique_ptr<RdKafka::Message> message(consumer_->consume(timeout_ms));
      timeout_ms = 0;  // after the first wait, take only what is already fetched
      if (callbacks_->generation() != generation) {
        // A rebalance ran inside consume(): records read before it may belong
        // to partitions we no longer own, and the assignment re-positioned
        // every partition at its stored offset, so they will be read again.
        // Records returned from now on follow the new positions: keep those.
        messages.clear();
        generation = callbacks_->generation();
      }
      if (message->err() == RdKafka::ERR__TIMED_OUT) break;
      if (message->err() == RdKafka::ERR_NO_ERROR) {
        messages.push_back(std::move(message));
        continue;
      }
      if (message->err() == RdKafka::ERR__TRANSPORT ||
          message->err() == RdKafka::ERR__ALL_BROKERS_DOWN) {
        SetConnected(false);
        break;
      }
      if (message->err() != RdKafka::ERR__PARTITION_EOF) {
        CRM_LOG(kWarning, kComponent) << "consume: " << message->errstr();
      }
      break;
    }
    if (!callbacks_->fatal().ok()) {
      result = callbacks_->fatal();
      break;
    }
    if (messages.empty()) {
      if (std::chrono::steady_clock::now() - last_lag_report > std::chrono::seconds(1)) {
        ReportLag();
        last_lag_report = std::chrono::steady_clock::now();
      }
      continue;
    }

    SetConnected(true);  // records came: the brokers answer
    records.reserve(messages.size());
    const std::int32_t partition_count =
        hooks_.restoring != nullptr ? hooks_.restoring->Owned().second : 0;
    for (const auto& message : messages) {
      InputRecord& record = records.emplace_back();
      record.partition = message->partition();
      record.offset = message->offset();
      if (const std::string* key = message->key()) record.key = *key;
      record.value = std::string_view(static_cast<const char*>(message->payload()), message->len());
      record.payload = DecodeTouchpoint(record.value, ContentType(*message));
      CheckPartitioner(record, partition_count);
    }
    auto processed = processor_->Process(records);
    if (IsStorageFull(processed.status())) {
      // Nothing of the part that failed counts: its records are read again
      // at the retry (Rewind), which tells when space is back.
      SetStorageFull(true);
      continue;
    }
    if (!processed.ok()) {
      result = processed.status();
      break;
    }
    SetStorageFull(false);
    ReportFreshness(messages);
    // Each rejection is counted and on the dead-letter topic; the log gets
    // the first ones of each second and a count of the others.
    RollRejectLog();
    for (const RejectedRecord& rejected : processed->rejected) {
      if (rejects_logged_ >= kRejectsLoggedPerSecond) {
        ++rejects_unlogged_;
        continue;
      }
      ++rejects_logged_;
      const InputRecord& record = records[rejected.index];
      CRM_LOG(kWarning, kComponent)
          << "rejected " << options_.topic << "[" << record.partition << "]@" << record.offset
          << " (" << RejectReasonName(rejected.rejection.reason)
          << "): " << rejected.rejection.detail();
    }

    // Kafka's own committed offsets serve lag monitoring only.
    std::map<std::int32_t, std::int64_t> next_offsets;
    for (const InputRecord& record : records) {
      std::int64_t& next = next_offsets[record.partition];
      next = std::max(next, record.offset + 1);
    }
    std::vector<RdKafka::TopicPartition*> commit;
    commit.reserve(next_offsets.size());
    for (const auto& [partition, next] : next_offsets) {
      commit.push_back(RdKafka::TopicPartition::create(options_.topic, partition, next));
    }
    consumer_->commitAsync(commit);
    DeletePartitions(commit);
    if (hooks_.restoring != nullptr) {
      const Timestamp now = WallClock().Now();
      for (const auto& [partition, next] : next_offsets)
        hooks_.restoring->Committed(partition, now);
    }
    if (std::chrono::steady_clock::now() - last_lag_report > std::chrono::seconds(1)) {
      ReportLag();
      last_lag_report = std::chrono::steady_clock::now();
    }
  }

  CRM_LOG(kInfo, kComponent) << "leaving group " << options_.group;
  consumer_->close();
  return result;
}

}  // namespace crm
