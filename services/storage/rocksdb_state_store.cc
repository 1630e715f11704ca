#include "services/storage/rocksdb_state_store.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "services/storage/state_codec.h"

namespace crm {
namespace {

constexpr char kCustomerPrefix = 'c';
constexpr char kOffsetPrefix = 'o';
constexpr std::string_view kFormatKey = "m:format";

std::string CustomerKey(const CustomerId& id) {
  std::string key;
  key.reserve(id.value().size() + 1);
  key.push_back(kCustomerPrefix);
  key.append(id.value());
  return key;
}

void AppendBigEndian(std::string& out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

std::string OffsetKey(const std::string& topic, std::int32_t partition) {
  std::string key(1, kOffsetPrefix);
  key.append(topic);
  key.push_back('\0');
  AppendBigEndian(key, static_cast<std::uint32_t>(partition), 4);
  return key;
}

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  std::string message = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return absl::DataLossError(message);
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return absl::FailedPreconditionError(message + " (is another crm-scored using this data dir?)");
  }
  if (s.IsIOError()) return absl::UnavailableError(message);
  if (s.IsInvalidArgument() || s.IsNotSupported()) return absl::InvalidArgumentError(message);
  return absl::InternalError(message);
}

}  // namespace

RocksDbStateStore::RocksDbStateStore(std::unique_ptr<rocksdb::DB> db, RocksDbOptions options)
    : db_(std::move(db)), options_(std::move(options)) {}

RocksDbStateStore::~RocksDbStateStore() = default;

absl::StatusOr<std::unique_ptr<RocksDbStateStore>> RocksDbStateStore::Open(
    const RocksDbOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("data dir is empty");
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
  } else if (format != kStateFormatVersion) {
    return absl::FailedPreconditionError("data dir " + options.path + " has state format " +
                                         format + ", this build reads format " +
                                         std::string(kStateFormatVersion));
  }
  return std::unique_ptr<RocksDbStateStore>(new RocksDbStateStore(std::move(db), options));
}

absl::StatusOr<std::optional<CustomerState>> RocksDbStateStore::Get(const CustomerId& id) {
  rocksdb::PinnableSlice value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), CustomerKey(id), &value);
  if (s.IsNotFound()) return std::optional<CustomerState>();
  if (!s.ok()) return FromRocks(s, "reading customer state");
  auto state = DecodeState(value.ToStringView());
  if (!state.ok()) return state.status();
  return std::optional<CustomerState>(std::move(*state));
}

absl::StatusOr<std::optional<std::int64_t>> RocksDbStateStore::GetOffset(const std::string& topic,
                                                                         std::int32_t partition) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), OffsetKey(topic, partition), &value);
  if (s.IsNotFound()) return std::optional<std::int64_t>();
  if (!s.ok()) return FromRocks(s, "reading stored offset");
  if (value.size() != 8) return absl::DataLossError("stored offset is not 8 bytes");
  std::uint64_t offset = 0;
  for (unsigned char c : value) offset = (offset << 8) | c;
  return std::optional<std::int64_t>(static_cast<std::int64_t>(offset));
}

absl::Status RocksDbStateStore::Commit(const std::string& topic, const StateBatch& batch) {
  rocksdb::WriteBatch write_batch;
  for (const auto& [id, state] : batch.customers) {
    write_batch.Put(CustomerKey(*id), EncodeState(*state));
  }
  for (const PartitionOffset& offset : batch.offsets) {
    std::string value;
    AppendBigEndian(value, static_cast<std::uint64_t>(offset.next_offset), 8);
    write_batch.Put(OffsetKey(topic, offset.partition), value);
  }
  rocksdb::WriteOptions write;
  write.sync = options_.sync_writes;
  rocksdb::Status s = db_->Write(write, &write_batch);
  return s.ok() ? absl::OkStatus() : FromRocks(s, "committing state batch");
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
