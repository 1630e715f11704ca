#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace crm::bench {

// What building the time index in memory from a data dir costs (the
// `schedule` phase): every partition's schedule read from its states as at
// an assignment after a restart.
struct RebuildFigures {
  double write_seconds = 0;    // writing the states, before
  double rebuild_seconds = 0;  // every partition, one after the other, on one thread
  double us_per_customer = 0;  // of the rebuild
  double held_looks = 0;       // looks held in memory once built
  double heap_bytes = 0;       // allocated by the rebuild and kept: the schedules
  double data_bytes_per_customer = 0;
};

// Writes `customers` states (demo customers' states, each with a next look
// within a year) under `partitions` partitions of a fresh store in `dir`,
// reopens it cold, then builds each partition's schedule from the states as
// the service does, `schedule_entries` looks shared out among them.
RebuildFigures MeasureScheduleRebuild(const std::filesystem::path& dir, std::int64_t customers,
                                      int partitions, std::size_t schedule_entries,
                                      std::uint64_t seed);

}  // namespace crm::bench
