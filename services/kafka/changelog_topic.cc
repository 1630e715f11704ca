#include "services/kafka/changelog_topic.h"

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <cstdio>
#include <string_view>

#include "core/check.h"
#include "crm/v1/scoring.pb.h"
#include "services/codec/alert_codec.h"
#include "services/codec/state_codec.h"

namespace crm {
namespace {

constexpr std::string_view kFencePrefix("\0fence/", 7);
constexpr std::string_view kCommitPrefix("\0commit/", 8);
constexpr std::string_view kAlertPrefix("\0alert/", 7);
constexpr char kEpochHeader[] = "crm.epoch";
constexpr char kSeqHeader[] = "crm.seq";

std::string MarkerKey(const PartitionState& marker) {
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(marker.epoch));
  return std::string(marker.seq == 0 ? kFencePrefix : kCommitPrefix) + hex;
}

std::string BigEndian(std::uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 7; i >= 0; --i, value >>= 8) bytes[i] = static_cast<char>(value & 0xff);
  return bytes;
}

std::optional<std::uint64_t> HeaderNumber(const RdKafka::Headers* headers, const char* name) {
  if (headers == nullptr) return std::nullopt;
  for (const RdKafka::Headers::Header& header : headers->get(name)) {
    if (header.value() == nullptr || header.value_size() != 8) continue;
    std::uint64_t value = 0;
    const auto* bytes = static_cast<const unsigned char*>(header.value());
    for (int i = 0; i < 8; ++i) value = (value << 8) | bytes[i];
    return value;
  }
  return std::nullopt;
}

// A changelog record as written by Write (kUnreadable: a customer's record
// whose state cannot be decoded); DataLossError when it is not one at all.
absl::StatusOr<ChangelogRecord> Decode(RdKafka::Message& message) {
  ChangelogRecord record;
  record.offset = message.offset();
  const std::string key = message.key() != nullptr ? *message.key() : std::string();
  const std::string_view value(static_cast<const char*>(message.payload()), message.len());
  const bool fence = key.rfind(kFencePrefix, 0) == 0;
  if (fence || key.rfind(kCommitPrefix, 0) == 0) {
    auto state = DecodePartition(value);
    if (!state.ok())
      return absl::DataLossError("unreadable changelog marker at offset " +
                                 std::to_string(message.offset()));
    record.kind = fence ? ChangelogRecord::Kind::kFence : ChangelogRecord::Kind::kMarker;
    record.marker = {
        .at = {state->epoch, state->seq}, .parent = state->parent, .partition = *state};
    return record;
  }
  // Without a stamp the record is of no epoch: the replay drops it.
  record.stamp = {HeaderNumber(message.headers(), kEpochHeader).value_or(0),
                  HeaderNumber(message.headers(), kSeqHeader).value_or(0)};
  if (key.rfind(kAlertPrefix, 0) == 0) {
    record.kind = ChangelogRecord::Kind::kAlert;
    record.alert_id = key.substr(kAlertPrefix.size());
    if (message.payload() != nullptr) {
      v1::ChurnAlert alert;
      if (!alert.ParseFromArray(message.payload(), static_cast<int>(message.len()))) {
        return absl::DataLossError("unreadable alert in the changelog at offset " +
                                   std::to_string(message.offset()));
      }
      absl::StatusOr<AlertEvent> event = FromProto(alert);
      if (!event.ok()) {
        return absl::DataLossError("unreadable alert in the changelog at offset " +
                                   std::to_string(message.offset()) + ": " +
                                   std::string(event.status().message()));
      }
      record.alert = *std::move(event);
    }
    return record;
  }
  record.kind = ChangelogRecord::Kind::kCustomer;
  record.customer = CustomerId(key);
  if (message.payload() != nullptr) {
    auto state = DecodeState(value);
    if (!state.ok()) {
      // Poisoned: the reader decides (a later record of the key may supersede it).
      record.kind = ChangelogRecord::Kind::kUnreadable;
      return record;
    }
    record.state = std::move(*state);
  }
  return record;
}

}  // namespace

// The deliveries of the Write in progress (librdkafka calls back from inside
// flush(), on the calling thread).
struct KafkaChangelog::Pending {
  std::size_t left = 0;
  std::string error;
  std::map<std::int32_t, std::int64_t> markers;
};

class KafkaChangelog::Deliveries final : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    if (pending == nullptr) return;
    --pending->left;
    if (message.err() != RdKafka::ERR_NO_ERROR) {
      if (pending->error.empty()) pending->error = message.errstr();
    } else if (message.msg_opaque() != nullptr) {  // a marker
      pending->markers[message.partition()] = message.offset();
    }
  }
  Pending* pending = nullptr;
};

absl::StatusOr<std::unique_ptr<KafkaChangelog>> KafkaChangelog::Create(
    const ChangelogTopicOptions& options) {
  if (options.brokers.empty()) return absl::InvalidArgumentError("changelog: no brokers given");
  std::unique_ptr<KafkaChangelog> changelog(new KafkaChangelog());
  changelog->options_ = options;
  changelog->deliveries_ = std::make_unique<Deliveries>();
  auto conf = MakeKafkaConf({{"bootstrap.servers", options.brokers},
                             {"client.id", "crm-scored-changelog"},
                             {"enable.idempotence", "true"},
                             {"acks", "all"},
                             {"compression.type", "lz4"},
                             {"linger.ms", "1"}},
                            options.properties);
  if (!conf.ok()) return conf.status();
  std::string error;
  if ((*conf)->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(changelog->deliveries_.get()),
                   error) != RdKafka::Conf::CONF_OK) {
    return absl::InternalError(error);
  }
  changelog->producer_.reset(RdKafka::Producer::create(conf->get(), error));
  if (!changelog->producer_) return absl::InvalidArgumentError("changelog producer: " + error);
  return changelog;
}

KafkaChangelog::~KafkaChangelog() {
  if (producer_) producer_->flush(10'000);
}

absl::StatusOr<std::map<std::int32_t, std::int64_t>> KafkaChangelog::Write(
    const std::vector<ChangelogWrite>& writes) {
  Pending pending;
  deliveries_->pending = &pending;
  struct Detach {
    Deliveries* deliveries;
    ~Detach() { deliveries->pending = nullptr; }
  } detach{deliveries_.get()};
  static char marker_tag;  // the opaque of a marker's message
  const auto produce = [&](std::int32_t partition, const std::string& key, const std::string* value,
                           RdKafka::Headers* headers, void* opaque) -> absl::Status {
    for (;;) {
      const RdKafka::ErrorCode err = producer_->produce(
          options_.topic, partition, RdKafka::Producer::RK_MSG_COPY,
          value != nullptr ? const_cast<char*>(value->data()) : nullptr,
          value != nullptr ? value->size() : 0, key.data(), key.size(), 0, headers, opaque);
      if (err == RdKafka::ERR_NO_ERROR) {
        ++pending.left;
        return absl::OkStatus();
      }
      if (err != RdKafka::ERR__QUEUE_FULL) {
        delete headers;
        return absl::UnavailableError("changelog " + options_.topic + ": " + RdKafka::err2str(err));
      }
      producer_->poll(10);
    }
  };
  for (const ChangelogWrite& write : writes) {
    // The commit's stamp, on each of its customers' and alerts' records.
    const auto stamp = [&write] {
      RdKafka::Headers* headers = RdKafka::Headers::create();
      headers->add(kEpochHeader, BigEndian(write.marker.epoch));
      headers->add(kSeqHeader, BigEndian(write.marker.seq));
      return headers;
    };
    CRM_CHECK(write.encoded.empty() || write.encoded.size() == write.customers.size());
    for (std::size_t i = 0; i < write.customers.size(); ++i) {
      const auto& [id, state] = write.customers[i];
      // The commit's encoding when it has one (the store writes the same bytes).
      std::string own;
      const std::string* value = nullptr;
      if (!write.encoded.empty()) {
        value = write.encoded[i];
      } else if (state != nullptr) {
        own = EncodeState(*state);
        value = &own;
      }
      CRM_CHECK((value != nullptr) == (state != nullptr));
      if (absl::Status s = produce(write.partition, id->value(), value, stamp(), nullptr);
          !s.ok()) {
        return s;
      }
    }
    for (const auto& [alert_id, alert] : write.alerts) {
      std::string value;
      if (alert != nullptr) {
        v1::ChurnAlert message;
        ToProto(*alert, &message);
        value = message.SerializeAsString();
      }
      if (absl::Status s = produce(write.partition, std::string(kAlertPrefix) + alert_id,
                                   alert != nullptr ? &value : nullptr, stamp(), nullptr);
          !s.ok()) {
        return s;
      }
    }
    const std::string value = EncodePartition(write.marker);
    if (absl::Status s =
            produce(write.partition, MarkerKey(write.marker), &value, nullptr, &marker_tag);
        !s.ok()) {
      return s;
    }
  }
  // librdkafka retries until message.timeout.ms; each message is reported.
  while (pending.left > 0) producer_->flush(100);
  if (!pending.error.empty()) {
    return absl::UnavailableError("changelog " + options_.topic + ": " + pending.error);
  }
  return pending.markers;
}

absl::Status KafkaChangelog::Read(std::int32_t partition, std::optional<std::int64_t> from,
                                  const std::function<absl::Status(ChangelogRecord)>& visit) {
  auto conf = MakeKafkaConf({{"bootstrap.servers", options_.brokers},
                             {"group.id", options_.group + ".changelog"},
                             {"client.id", "crm-scored-changelog"},
                             {"enable.auto.commit", "false"},
                             {"enable.partition.eof", "true"}},
                            options_.properties);
  if (!conf.ok()) return conf.status();
  std::string error;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(conf->get(), error));
  if (!consumer) return absl::InvalidArgumentError("changelog reader: " + error);
  struct Close {
    RdKafka::KafkaConsumer* consumer;
    ~Close() { consumer->close(); }
  } close{consumer.get()};
  std::int64_t low = 0, high = 0;
  if (RdKafka::ErrorCode err = consumer->query_watermark_offsets(options_.topic, partition, &low,
                                                                 &high, options_.read_stall_ms);
      err != RdKafka::ERR_NO_ERROR) {
    return absl::UnavailableError("changelog " + options_.topic + "[" + std::to_string(partition) +
                                  "]: " + RdKafka::err2str(err));
  }
  if (from && *from < low) {
    return absl::DataLossError("changelog " + options_.topic + "[" + std::to_string(partition) +
                               "] starts at offset " + std::to_string(low) +
                               ", after this instance's checkpoint at " + std::to_string(*from) +
                               ": the records between are gone (is the topic compacted, not "
                               "deleted by retention?)");
  }
  const std::int64_t start = from.value_or(low);
  if (start >= high) return absl::OkStatus();
  std::unique_ptr<RdKafka::TopicPartition> assigned(
      RdKafka::TopicPartition::create(options_.topic, partition, start));
  std::vector<RdKafka::TopicPartition*> assignment = {assigned.get()};
  if (RdKafka::ErrorCode err = consumer->assign(assignment); err != RdKafka::ERR_NO_ERROR) {
    return absl::InternalError("changelog assign: " + RdKafka::err2str(err));
  }
  auto last_progress = std::chrono::steady_clock::now();
  for (;;) {
    std::unique_ptr<RdKafka::Message> message(consumer->consume(100));
    if (message->err() == RdKafka::ERR__PARTITION_EOF) {
      if (message->offset() >= high) return absl::OkStatus();
      continue;
    }
    if (message->err() == RdKafka::ERR__TIMED_OUT) {
      if (std::chrono::steady_clock::now() - last_progress >
          std::chrono::milliseconds(options_.read_stall_ms)) {
        return absl::UnavailableError("changelog " + options_.topic + "[" +
                                      std::to_string(partition) + "]: no record for " +
                                      std::to_string(options_.read_stall_ms / 1000) + " s");
      }
      continue;
    }
    if (message->err() != RdKafka::ERR_NO_ERROR) {
      return absl::UnavailableError("changelog " + options_.topic + ": " + message->errstr());
    }
    last_progress = std::chrono::steady_clock::now();
    auto record = Decode(*message);
    if (!record.ok()) return record.status();
    if (absl::Status s = visit(std::move(*record)); !s.ok()) return s;
    if (message->offset() + 1 >= high) return absl::OkStatus();
  }
}

}  // namespace crm
