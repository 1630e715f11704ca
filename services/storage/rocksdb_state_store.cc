#include "services/storage/rocksdb_state_store.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <bit>
#include <functional>
#include <limits>

#include "core/check.h"
#include "crm/internal/stored_state.pb.h"
#include "services/codec/alert_codec.h"
#include "services/codec/state_codec.h"
#include "services/common/fail_point.h"
#include "services/storage/outcome_index.h"
#include "services/storage/sorted_writes.h"
#include "services/storage/state_keys.h"

namespace crm {
namespace {

// Whether `s` says the disk is full (RocksDB's NoSpace, or an IO error with
// the system's ENOSPC text where a layer lost the subcode).
bool IsNoSpace(const rocksdb::Status& s) {
  return s.IsNoSpace() || (s.IsIOError() && s.ToString().find("No space") != std::string::npos);
}

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  std::string message = std::string(what) + ": " + s.ToString();
  if (IsNoSpace(s)) return StorageFullError(message);
  if (s.IsCorruption()) return absl::DataLossError(message);
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return absl::FailedPreconditionError(message + " (is another crm-scored using this data dir?)");
  }
  if (s.IsIOError()) return absl::UnavailableError(message);
  if (s.IsInvalidArgument() || s.IsNotSupported()) return absl::InvalidArgumentError(message);
  return absl::InternalError(message);
}

// Calls `visit` with `it` at the first entry of each partition of `index`
// ("t" or "r") in turn; `visit` may move `it` anywhere within that partition.
absl::Status ForEachPartition(
    rocksdb::DB& db, char index,
    const std::function<absl::Status(std::int32_t, rocksdb::Iterator&)>& visit) {
  const std::string all(1, index);
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  it->Seek(all);
  while (it->Valid() && it->key().starts_with(all)) {
    if (it->key().size() < 5) return absl::DataLossError("unreadable key in the data dir");
    const std::int32_t partition = PartitionOfKey(it->key().ToStringView());
    if (absl::Status s = visit(partition, *it); !s.ok()) return s;
    if (partition == std::numeric_limits<std::int32_t>::max()) break;
    it->Seek(IndexPrefix(index, partition + 1));
  }
  return it->status().ok() ? absl::OkStatus() : FromRocks(it->status(), "reading an index");
}

// Format 2 kept states by customer id alone ("c" + id); format 3 under their
// partition ("s" + partition + id), the partition each state records. The
// move is made in batches that each delete the old keys they rewrite, so an
// interrupted one resumes where it stopped; the format is 3 once no old key
// is left.
absl::Status MigrateFromFormat2(rocksdb::DB& db, const RocksDbOptions& options) {
  constexpr std::size_t kPerBatch = 10'000;
  const std::string old_prefix(1, kFormat2CustomerPrefix);
  std::uint64_t moved = 0;
  for (bool more = true; more;) {
    rocksdb::WriteBatch batch;
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
    std::size_t in_batch = 0;
    for (it->Seek(old_prefix);
         it->Valid() && it->key().starts_with(old_prefix) && in_batch < kPerBatch;
         it->Next(), ++in_batch) {
      auto state = DecodeState(it->value().ToStringView());
      if (!state.ok()) return state.status();
      const CustomerId id(std::string(it->key().ToStringView().substr(1)));
      if (state->partition < 0) {
        return absl::DataLossError("customer " + id.value() + " has no partition");
      }
      batch.Put(CustomerKey(state->partition, id), it->value());
      batch.Delete(it->key());
    }
    if (!it->status().ok()) return FromRocks(it->status(), "reading format 2 states");
    more = in_batch == kPerBatch;
    moved += in_batch;
    if (!more) {
      batch.Put(rocksdb::Slice(kFormatKey.data(), kFormatKey.size()),
                rocksdb::Slice(kStateFormatVersion.data(), kStateFormatVersion.size()));
    }
    rocksdb::WriteOptions write;
    write.sync = true;
    if (rocksdb::Status s = db.Write(write, &batch); !s.ok()) {
      return FromRocks(s, "writing format 3 states");
    }
    if (options.progress) options.progress(moved, !more);
  }
  return absl::OkStatus();
}

absl::Status DropOldTimeIndex(rocksdb::DB& db) {
  const std::string prefix(1, kDuePrefix);
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  it->Seek(prefix);
  if (!it->status().ok()) return FromRocks(it->status(), "reading the old time index");
  if (!it->Valid() || !it->key().starts_with(prefix)) return absl::OkStatus();
  rocksdb::WriteOptions write;
  write.sync = true;
  const rocksdb::Status s =
      db.DeleteRange(write, db.DefaultColumnFamily(), prefix, PrefixEnd(prefix));
  return s.ok() ? absl::OkStatus() : FromRocks(s, "dropping the old time index");
}

}  // namespace

RocksDbStateStore::RocksDbStateStore(std::unique_ptr<rocksdb::DB> db, RocksDbOptions options,
                                     std::set<std::int32_t> partitions)
    : db_(std::move(db)), options_(std::move(options)), partitions_(std::move(partitions)) {}

std::vector<std::int32_t> RocksDbStateStore::StatePartitions() const {
  absl::MutexLock lock(&partitions_mutex_);
  return {partitions_.begin(), partitions_.end()};
}

RocksDbStateStore::~RocksDbStateStore() = default;

rocksdb::Options MakeRocksDbOptions(const RocksDbOptions& options) {
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.write_buffer_size = options.write_buffer_mb << 20;
  db_options.max_background_jobs = 2;
  db_options.compression = rocksdb::kLZ4Compression;
  db_options.bottommost_compression = rocksdb::kZSTD;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_mb << 20);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.format_version = 5;
  db_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return db_options;
}

absl::StatusOr<std::unique_ptr<RocksDbStateStore>> RocksDbStateStore::Open(
    const RocksDbOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("data dir is empty");
  const rocksdb::Options db_options = MakeRocksDbOptions(options);
  if (options.low_priority_compactions) {
    db_options.env->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::LOW);
  }
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.path, &raw);
  if (!s.ok()) return FromRocks(s, "cannot open data dir " + options.path);
  std::unique_ptr<rocksdb::DB> db(raw);

  std::string format;
  s = db->Get(rocksdb::ReadOptions(), rocksdb::Slice(kFormatKey.data(), kFormatKey.size()),
              &format);
  if (s.IsNotFound()) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    if (it->Valid()) {
      return absl::FailedPreconditionError("data dir " + options.path +
                                           " holds data but no format version: not a crm-scored "
                                           "data dir, or from an incompatible version");
    }
    rocksdb::WriteOptions write;
    write.sync = true;
    s = db->Put(write, rocksdb::Slice(kFormatKey.data(), kFormatKey.size()),
                rocksdb::Slice(kStateFormatVersion.data(), kStateFormatVersion.size()));
    if (!s.ok()) return FromRocks(s, "cannot initialise data dir " + options.path);
  } else if (!s.ok()) {
    return FromRocks(s, "cannot read data dir " + options.path);
  } else if (format == "2") {
    if (absl::Status migrated = MigrateFromFormat2(*db, options); !migrated.ok()) {
      return absl::Status(migrated.code(),
                          "data dir " + options.path +
                              ": moving to state format 3: " + std::string(migrated.message()));
    }
  } else if (format != kStateFormatVersion) {
    return absl::FailedPreconditionError("data dir " + options.path + " has state format " +
                                         format + ", this build reads format " +
                                         std::string(kStateFormatVersion));
  }
  // Earlier builds kept a time index in the store; the states hold the next
  // looks it was built from, and it is dropped whole.
  if (absl::Status dropped = DropOldTimeIndex(*db); !dropped.ok()) {
    return absl::Status(dropped.code(),
                        "data dir " + options.path + ": " + std::string(dropped.message()));
  }
  // The partitions holding states: one seek each.
  std::set<std::int32_t> partitions;
  if (absl::Status read = ForEachPartition(*db, kCustomerPrefix,
                                           [&](std::int32_t partition, rocksdb::Iterator&) {
                                             partitions.insert(partition);
                                             return absl::OkStatus();
                                           });
      !read.ok()) {
    return absl::Status(read.code(),
                        "data dir " + options.path + ": " + std::string(read.message()));
  }
  return std::unique_ptr<RocksDbStateStore>(
      new RocksDbStateStore(std::move(db), options, std::move(partitions)));
}

absl::StatusOr<std::optional<CustomerState>> RocksDbStateStore::Get(std::int32_t partition,
                                                                    const CustomerId& id) {
  rocksdb::PinnableSlice value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), db_->DefaultColumnFamily(),
                               CustomerKey(partition, id), &value);
  if (s.IsNotFound()) return std::optional<CustomerState>();
  if (!s.ok()) return FromRocks(s, "reading customer state");
  auto state = DecodeState(value.ToStringView());
  if (!state.ok()) return state.status();
  state->partition = partition;
  return std::optional<CustomerState>(std::move(*state));
}

absl::StatusOr<std::optional<CustomerState>> RocksDbStateStore::Locate(
    const CustomerId& id, std::optional<std::int32_t> hint) {
  if (hint) {
    auto state = Get(*hint, id);
    if (!state.ok() || *state) return state;
  }
  for (const std::int32_t partition : StatePartitions()) {
    if (partition == hint) continue;
    auto state = Get(partition, id);
    if (!state.ok() || *state) return state;
  }
  return std::optional<CustomerState>();
}

absl::Status RocksDbStateStore::DropPartition(const std::string& topic, std::int32_t partition) {
  rocksdb::WriteBatch batch;
  for (char prefix :
       {kCustomerPrefix, kTouchpointPrefix, kRiskPrefix, kOfferPrefix, kOutcomePrefix}) {
    const std::string from = IndexPrefix(prefix, partition);
    batch.DeleteRange(from, PrefixEnd(from));
  }
  std::string cells = PopulationPrefix(topic);
  AppendBigEndian(cells, static_cast<std::uint32_t>(partition), 4);
  batch.DeleteRange(cells, PrefixEnd(cells));
  batch.Delete(OffsetKey(topic, partition));
  rocksdb::WriteOptions write;
  write.sync = options_.sync_writes;
  rocksdb::Status s = db_->Write(write, &batch);
  if (!s.ok()) return FromRocks(s, "dropping a partition's state");
  absl::MutexLock lock(&partitions_mutex_);
  partitions_.erase(partition);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Touchpoint>> RocksDbStateStore::RecentTouchpoints(std::int32_t partition,
                                                                             const CustomerId& id,
                                                                             std::uint64_t through,
                                                                             std::size_t limit) {
  std::vector<Touchpoint> recent;
  const std::string prefix = TouchpointPrefix(partition, id);
  // The window: the latest kRecentTouchpoints up to `through`.
  const std::string first = TouchpointKey(
      partition, id, through >= kRecentTouchpoints ? through - kRecentTouchpoints + 1 : 0);
  const rocksdb::Slice lower(first);
  rocksdb::ReadOptions options;
  options.iterate_lower_bound = &lower;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options));
  for (it->SeekForPrev(TouchpointKey(partition, id, through)); it->Valid() && recent.size() < limit;
       it->Prev()) {
    const std::string_view key = it->key().ToStringView();
    if (key.size() != prefix.size() + 8 || !key.starts_with(prefix)) {
      return absl::DataLossError("unreadable recent touchpoint key in the data dir");
    }
    auto touchpoint = DecodeRecentTouchpoint(it->value().ToStringView(), id);
    if (!touchpoint.ok()) return touchpoint.status();
    recent.push_back(*std::move(touchpoint));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading recent touchpoints");
  return recent;
}

absl::StatusOr<std::optional<PartitionState>> RocksDbStateStore::GetPartition(
    const std::string& topic, std::int32_t partition) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), OffsetKey(topic, partition), &value);
  if (s.IsNotFound()) return std::optional<PartitionState>();
  if (!s.ok()) return FromRocks(s, "reading a partition's offset");
  auto state = DecodePartition(value);
  if (!state.ok()) return absl::DataLossError("unreadable partition record in the data dir");
  return std::optional<PartitionState>(*state);
}

absl::StatusOr<std::optional<Timestamp>> RocksDbStateStore::LoadLatestEventTime(
    const std::string& topic) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), EventTimeKey(topic), &value);
  if (s.IsNotFound()) return std::optional<Timestamp>();
  if (!s.ok()) return FromRocks(s, "reading the latest event time");
  if (value.size() != 8) return absl::DataLossError("stored event time is not 8 bytes");
  return std::optional<Timestamp>(FromMicros(static_cast<std::int64_t>(ReadBigEndian(value))));
}

absl::StatusOr<std::vector<std::pair<std::uint64_t, AlertEvent>>> RocksDbStateStore::PendingAlerts(
    std::size_t limit) {
  std::vector<std::pair<std::uint64_t, AlertEvent>> pending;
  const std::string prefix(1, kOutboxPrefix);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix) && pending.size() < limit;
       it->Next()) {
    const std::string_view key = it->key().ToStringView();
    v1::ChurnAlert alert;
    if (key.size() != 9 ||
        !alert.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("unreadable alert in the outbox of the data dir");
    }
    absl::StatusOr<AlertEvent> event = FromProto(alert);
    if (!event.ok()) {
      return absl::DataLossError("unreadable alert in the outbox of the data dir: " +
                                 std::string(event.status().message()));
    }
    pending.emplace_back(ReadBigEndian(key.substr(1)), *std::move(event));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading the alert outbox");
  return pending;
}

absl::StatusOr<std::optional<std::uint64_t>> RocksDbStateStore::LastPendingAlert() {
  const std::string prefix(1, kOutboxPrefix);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  it->SeekForPrev(OutboxKey(~std::uint64_t{0}));
  if (!it->status().ok()) return FromRocks(it->status(), "reading the alert outbox");
  if (!it->Valid() || !it->key().starts_with(prefix)) return std::optional<std::uint64_t>();
  return std::optional<std::uint64_t>(ReadBigEndian(it->key().ToStringView().substr(1)));
}

absl::Status RocksDbStateStore::AckAlerts(const std::vector<std::uint64_t>& sequences) {
  rocksdb::WriteBatch batch;
  for (std::uint64_t sequence : sequences) batch.Delete(OutboxKey(sequence));
  return Write(batch, "acknowledging delivered alerts");
}

absl::Status RocksDbStateStore::Write(rocksdb::WriteBatch& batch, std::string_view what,
                                      bool sync) {
  // After a write failed for want of space RocksDB refuses every write (its
  // background error) until told to resume: tried again before each write,
  // it succeeds once space has returned.
  if (no_space_.load()) {
    if (rocksdb::Status resumed = db_->Resume(); !resumed.ok()) return FromRocks(resumed, what);
    no_space_.store(false);
  }
  rocksdb::WriteOptions write;
  write.sync = options_.sync_writes || sync;
  rocksdb::Status s = db_->Write(write, &batch);
  if (s.ok()) return absl::OkStatus();
  if (IsNoSpace(s)) no_space_.store(true);
  return FromRocks(s, what);
}

absl::Status RocksDbStateStore::ForEachNextLook(
    std::int32_t partition, const std::function<void(const CustomerId&, Timestamp)>& visit) {
  const std::string prefix = IndexPrefix(kCustomerPrefix, partition);
  const std::string end = PrefixEnd(prefix);
  const rocksdb::Slice end_slice(end);
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &end_slice;
  options.fill_cache = false;  // one pass over every state: not what lookups read next
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options));
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    auto next_look = NextLookOf(it->value().ToStringView());
    if (!next_look.ok()) return next_look.status();
    if (*next_look) {
      visit(CustomerId(std::string(it->key().ToStringView().substr(prefix.size()))), **next_look);
    }
  }
  return it->status().ok() ? absl::OkStatus() : FromRocks(it->status(), "reading next looks");
}

absl::StatusOr<std::vector<RiskEntry>> RocksDbStateStore::Riskiest(
    const std::optional<RiskEntry>& after, std::size_t limit) {
  // Each partition's index is in order; the first `limit` of each, merged.
  std::vector<RiskEntry> merged;
  absl::Status read =
      ForEachPartition(*db_, kRiskPrefix, [&](std::int32_t partition, rocksdb::Iterator& it) {
        const std::string prefix = IndexPrefix(kRiskPrefix, partition);
        const std::string from = after ? RiskKey(partition, after->churn, after->customer) : prefix;
        std::size_t taken = 0;
        for (it.Seek(from); it.Valid() && it.key().starts_with(prefix) && taken < limit;
             it.Next()) {
          const std::string_view key = it.key().ToStringView();
          if (after && key == from) continue;
          if (key.size() < kIndexHeader) {
            return absl::DataLossError("unreadable at-risk index entry in the data dir");
          }
          merged.push_back(RiskEntryOf(key));
          ++taken;
        }
        return absl::OkStatus();
      });
  if (!read.ok()) return read;
  std::sort(merged.begin(), merged.end(), [](const RiskEntry& a, const RiskEntry& b) {
    return a.churn != b.churn ? a.churn > b.churn : a.customer < b.customer;
  });
  if (merged.size() > limit) merged.resize(limit);
  return merged;
}

absl::StatusOr<std::vector<OfferEntry>> RocksDbStateStore::LikeliestBuyers(
    std::string_view product, const std::optional<OfferEntry>& after, std::size_t limit) {
  // As Riskiest: the first `limit` of each partition's index, merged.
  std::vector<OfferEntry> merged;
  absl::Status read =
      ForEachPartition(*db_, kOfferPrefix, [&](std::int32_t partition, rocksdb::Iterator& it) {
        const std::string prefix = OfferPrefix(partition, product);
        const std::string from =
            after ? OfferKey(partition, product, after->probability, after->customer) : prefix;
        std::size_t taken = 0;
        for (it.Seek(from); it.Valid() && it.key().starts_with(prefix) && taken < limit;
             it.Next()) {
          const std::string_view key = it.key().ToStringView();
          if (after && key == from) continue;
          if (key.size() < prefix.size() + 8) {
            return absl::DataLossError("unreadable offer index entry in the data dir");
          }
          merged.push_back(OfferEntryOf(key, product));
          ++taken;
        }
        return absl::OkStatus();
      });
  if (!read.ok()) return read;
  std::sort(merged.begin(), merged.end(), [](const OfferEntry& a, const OfferEntry& b) {
    return a.probability != b.probability ? a.probability > b.probability : a.customer < b.customer;
  });
  if (merged.size() > limit) merged.resize(limit);
  return merged;
}

absl::Status RocksDbStateStore::ForEachFollowUp(
    std::optional<Timestamp> since, std::optional<Timestamp> until,
    const std::function<bool(std::int32_t)>& take,
    const std::function<void(const AlertFollowUp&)>& visit) {
  return ReadOutcomes(*db_, since, until, take, visit);
}

absl::StatusOr<std::vector<PopulationCell>> RocksDbStateStore::LoadPopulation(
    const std::string& topic) {
  const std::string prefix = PopulationPrefix(topic);
  std::vector<PopulationCell> cells;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string_view key = it->key().ToStringView().substr(prefix.size());
    const std::string_view value = it->value().ToStringView();
    if (key.size() != 13 || value.size() != 8 || key[4] < 0 ||
        key[4] >= static_cast<char>(kPopulationAxisCount)) {
      return absl::DataLossError("unreadable population cell in the data dir");
    }
    PopulationCell cell;
    cell.partition = static_cast<std::int32_t>(ReadBigEndian(key.substr(0, 4)));
    cell.axis = static_cast<PopulationAxis>(key[4]);
    cell.bucket = static_cast<std::int64_t>(ReadBigEndian(key.substr(5)) ^ (1ULL << 63));
    cell.count = static_cast<std::int64_t>(ReadBigEndian(value));
    cells.push_back(cell);
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading the population");
  return cells;
}

namespace {

// The offer index entries `change` moves: those of products whose appetence
// changed or went, then those that changed or came.
void WriteOfferChange(const IndexChange& change, SortedWrites& writes) {
  const auto unchanged = [](const AppetenceByProduct& other, const auto& entry) {
    const auto it = other.find(entry.first);
    return it != other.end() && it->second == entry.second;
  };
  const auto key = [&](const auto& entry) {
    return OfferKey(change.partition, entry.first, entry.second, *change.customer);
  };
  for (const auto& entry : change.appetence_from) {
    if (!unchanged(change.appetence_to, entry)) writes.Delete(key(entry));
  }
  for (const auto& entry : change.appetence_to) {
    if (!unchanged(change.appetence_from, entry)) writes.Put(key(entry), "");
  }
}

}  // namespace

absl::Status RocksDbStateStore::Commit(const std::string& topic, const StateBatch& batch) {
  SortedWrites writes;
  CRM_CHECK(batch.encoded.empty() || batch.encoded.size() == batch.customers.size());
  for (std::size_t i = 0; i < batch.customers.size(); ++i) {
    const auto& [id, state] = batch.customers[i];
    if (state->partition < 0) {
      return absl::InvalidArgumentError("committing the state of customer " + id->value() +
                                        ", which has no partition");
    }
    writes.Put(CustomerKey(state->partition, *id),
               batch.encoded.empty() ? EncodeState(*state) : batch.encoded[i]);
  }
  for (const PopulationCell& cell : batch.population) {
    if (cell.count == 0) {
      writes.Delete(PopulationKey(topic, cell));
    } else {
      std::string value;
      AppendBigEndian(value, static_cast<std::uint64_t>(cell.count), 8);
      writes.Put(PopulationKey(topic, cell), value);
    }
  }
  for (const AppliedTouchpoint& applied : batch.touchpoints) {
    const CustomerId& id = applied.touchpoint->customer_id;
    writes.Put(TouchpointKey(applied.partition, id, applied.sequence),
               EncodeRecentTouchpoint(*applied.touchpoint));
    // The one this replaces among the latest kRecentTouchpoints, without reading.
    if (applied.sequence > kRecentTouchpoints) {
      writes.Delete(TouchpointKey(applied.partition, id, applied.sequence - kRecentTouchpoints));
    }
  }
  for (const auto& [partition, id] : batch.erased) writes.Delete(CustomerKey(partition, *id));
  for (std::uint64_t sequence : batch.outbox_removed) writes.Delete(OutboxKey(sequence));
  for (const auto& [sequence, alert] : batch.outbox) {
    v1::ChurnAlert message;
    ToProto(*alert, &message);
    writes.Put(OutboxKey(sequence), message.SerializeAsString());
  }
  for (const IndexChange& change : batch.index) {
    const CustomerId& id = *change.customer;
    if (change.risk_from) writes.Delete(RiskKey(change.partition, *change.risk_from, id));
    if (change.risk_to) writes.Put(RiskKey(change.partition, *change.risk_to, id), "");
    WriteOfferChange(change, writes);
    WriteOutcomeChange(change, writes);
  }
  if (batch.latest_event_time) {
    std::string value;
    AppendBigEndian(value, static_cast<std::uint64_t>(ToMicros(*batch.latest_event_time)), 8);
    writes.Put(EventTimeKey(topic), value);
  }
  for (const auto& [partition, state] : batch.partitions) {
    writes.Put(OffsetKey(topic, partition), EncodePartition(state));
  }
  if (!batch.outbox.empty()) FailPoint("commit-with-alert");
  if (FailPointFails("commit-error")) {
    return absl::UnavailableError(
        "committing state batch: injected write failure (CRM_FAIL_POINTS)");
  }
  if (FailPointFails("commit-no-space")) {
    return FromRocks(rocksdb::Status::NoSpace("injected (CRM_FAIL_POINTS)"),
                     "committing state batch");
  }
  rocksdb::WriteBatch sorted;
  writes.WriteTo(sorted);
  // After the batch's own, so that an erased customer keeps none.
  for (const auto& [partition, id] : batch.erased) {
    const std::string from = TouchpointPrefix(partition, *id);
    sorted.DeleteRange(from, PrefixEnd(from));
  }
  {
    // Known before the states are visible, so that Find never misses one.
    absl::MutexLock lock(&partitions_mutex_);
    for (const auto& [id, state] : batch.customers) partitions_.insert(state->partition);
  }
  return Write(sorted, "committing state batch", batch.sync);
}

absl::Status RocksDbStateStore::Flush() {
  rocksdb::Status s = db_->Flush(rocksdb::FlushOptions());
  return s.ok() ? absl::OkStatus() : FromRocks(s, "flushing state");
}

StorageStats RocksDbStateStore::Stats() const {
  StorageStats stats;
  db_->GetIntProperty("rocksdb.estimate-live-data-size", &stats.live_data_bytes);
  db_->GetIntProperty("rocksdb.total-sst-files-size", &stats.sst_files_bytes);
  db_->GetIntProperty("rocksdb.cur-size-all-mem-tables", &stats.memtable_bytes);
  db_->GetIntProperty("rocksdb.estimate-num-keys", &stats.estimated_keys);
  return stats;
}

}  // namespace crm
