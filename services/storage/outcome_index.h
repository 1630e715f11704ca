// The outcome index in RocksDB: each follow-up a customer keeps
// (AlertState::follow_ups) under its partition and time of raising, written
// in the commit that changes it (see OutcomeKey), so that GetAlertOutcomes
// reads the alerts of a period, not every customer.
#pragma once

#include <rocksdb/db.h>

#include <cstdint>
#include <functional>
#include <optional>

#include "absl/status/status.h"
#include "core/follow_up.h"
#include "core/state_store.h"
#include "services/storage/sorted_writes.h"

namespace crm {

// The outcome index entries `change` moves: the follow-ups gone are deleted,
// those new or changed written.
void WriteOutcomeChange(const IndexChange& change, SortedWrites& writes);

// StateStore::ForEachFollowUp on `db`.
absl::Status ReadOutcomes(rocksdb::DB& db, std::optional<Timestamp> since,
                          std::optional<Timestamp> until,
                          const std::function<bool(std::int32_t)>& take,
                          const std::function<void(const AlertFollowUp&)>& visit);

}  // namespace crm
