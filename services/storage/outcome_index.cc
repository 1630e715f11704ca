#include "services/storage/outcome_index.h"

#include <limits>
#include <memory>
#include <string>

#include "services/codec/state_codec.h"
#include "services/storage/state_keys.h"

namespace crm {

void WriteOutcomeChange(const IndexChange& change, SortedWrites& writes) {
  const FollowUpMoves moves = FollowUpsMoved(change.follow_ups_from, change.follow_ups_to);
  for (const AlertFollowUp* gone : moves.gone) {
    writes.Delete(OutcomeKey(change.partition, *change.customer, *gone));
  }
  for (const AlertFollowUp* come : moves.come) {
    writes.Put(OutcomeKey(change.partition, *change.customer, *come), EncodeFollowUpRecord(*come));
  }
}

absl::Status ReadOutcomes(rocksdb::DB& db, std::optional<Timestamp> since,
                          std::optional<Timestamp> until,
                          const std::function<bool(std::int32_t)>& take,
                          const std::function<void(const AlertFollowUp&)>& visit) {
  const std::string all(1, kOutcomePrefix);
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  it->Seek(all);
  while (it->Valid() && it->key().starts_with(all)) {
    if (it->key().size() < 5) return absl::DataLossError("unreadable key in the data dir");
    const std::int32_t partition = PartitionOfKey(it->key().ToStringView());
    if (take(partition)) {
      const std::string prefix = IndexPrefix(kOutcomePrefix, partition);
      if (since) it->Seek(OutcomeBound(partition, *since));
      for (; it->Valid() && it->key().starts_with(prefix); it->Next()) {
        if (it->key().size() < kIndexHeader + 8) {
          return absl::DataLossError("unreadable outcome index entry in the data dir");
        }
        if (until && OutcomeRaisedAt(it->key().ToStringView()) >= *until) break;
        absl::StatusOr<AlertFollowUp> follow_up = DecodeFollowUpRecord(it->value().ToStringView());
        if (!follow_up.ok()) return follow_up.status();
        visit(*follow_up);
      }
    }
    if (partition == std::numeric_limits<std::int32_t>::max()) break;
    it->Seek(IndexPrefix(kOutcomePrefix, partition + 1));
  }
  if (!it->status().ok()) {
    return absl::InternalError("reading the outcome index: " + it->status().ToString());
  }
  return absl::OkStatus();
}

}  // namespace crm
