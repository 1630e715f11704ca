#include "bench/schedule_rebuild.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/workload.h"
#include "core/customer_state.h"
#include "core/look_schedule.h"
#include "core/state_store.h"
#include "services/codec/state_codec.h"
#include "services/storage/rocksdb_state_store.h"
#include "tools/demo/population.h"

namespace crm::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

[[noreturn]] void Fail(const std::string& what) {
  std::cerr << "crm-bench: schedule: " << what << "\n";
  std::exit(1);
}

std::unique_ptr<RocksDbStateStore> OpenStore(const std::filesystem::path& path) {
  auto store = RocksDbStateStore::Open({.path = path.string()});
  if (!store.ok()) Fail(std::string(store.status().message()));
  return std::move(*store);
}

// The heap bytes allocated and not freed, now (glibc's count).
double HeapInUse() { return static_cast<double>(mallinfo2().uordblks); }

// Realistic states to copy: those a demo population of 1,000 leaves after
// 6,000 touchpoints, looked at.
std::vector<CustomerState> Templates(std::uint64_t seed) {
  demo::Population population({.customers = 1000, .seed = seed});
  std::unordered_map<std::string, CustomerState> states;
  const StateLimits limits;
  for (int i = 0; i < 6000; ++i) {
    const Touchpoint touchpoint = population.Next();
    ApplyTouchpoint(touchpoint, limits, states[touchpoint.customer_id.value()]);
  }
  std::vector<CustomerState> templates;
  for (auto& [id, state] : states) {
    state.alert.looked_at = state.last_seen;
    state.alert.last_churn = 0.3;
    state.alert.indexed_churn = 0.3;
    templates.push_back(std::move(state));
  }
  return templates;
}

}  // namespace

RebuildFigures MeasureScheduleRebuild(const std::filesystem::path& dir, std::int64_t customers,
                                      int partitions, std::size_t schedule_entries,
                                      std::uint64_t seed) {
  RebuildFigures figures;
  const std::filesystem::path path = dir / "schedule";
  std::filesystem::remove_all(path);
  const std::vector<CustomerState> templates = Templates(seed);
  std::mt19937_64 random(seed);
  const Timestamp now = std::chrono::floor<Micros>(std::chrono::system_clock::now());
  const auto started = SteadyClock::now();
  {
    std::unique_ptr<RocksDbStateStore> store = OpenStore(path);
    constexpr std::int64_t kPerCommit = 10'000;
    std::vector<CustomerId> ids;
    std::vector<CustomerState> states;
    for (std::int64_t first = 0; first < customers; first += kPerCommit) {
      const std::int64_t count = std::min(kPerCommit, customers - first);
      ids.clear();
      states.clear();
      StateBatch batch;
      for (std::int64_t i = first; i < first + count; ++i) {
        ids.emplace_back("customer-" + std::to_string(i));
        CustomerState& state =
            states.emplace_back(templates[static_cast<std::size_t>(i) % templates.size()]);
        state.partition = static_cast<std::int32_t>(i % partitions);
        state.alert.next_look =
            now + Micros(static_cast<std::int64_t>(random() % (365ULL * 24 * 3600 * 1'000'000)));
      }
      for (std::size_t i = 0; i < ids.size(); ++i) {
        batch.customers.emplace_back(&ids[i], &states[i]);
        batch.encoded.push_back(EncodeState(states[i]));
      }
      if (absl::Status s = store->Commit("crm.bench", batch); !s.ok()) {
        Fail(std::string(s.message()));
      }
      if ((first / kPerCommit) % 100 == 99) {
        std::cerr << "  schedule: wrote " << first + count << "/" << customers << " states\n";
      }
    }
    if (absl::Status s = store->Flush(); !s.ok()) Fail(std::string(s.message()));
    figures.data_bytes_per_customer =
        static_cast<double>(store->Stats().sst_files_bytes) / static_cast<double>(customers);
  }
  figures.write_seconds = Seconds(SteadyClock::now() - started);

  // As after a restart: the store opened again, nothing of it cached.
  std::unique_ptr<RocksDbStateStore> store = OpenStore(path);
  const double heap_before = HeapInUse();
  const auto rebuilt = SteadyClock::now();
  const auto owned = static_cast<std::size_t>(partitions);
  std::vector<LookSchedule> schedules;
  for (std::int32_t partition = 0; partition < partitions; ++partition) {
    auto built = LookSchedule::Build(*store, partition, schedule_entries, owned);
    if (!built.ok()) Fail(std::string(built.status().message()));
    const LookSchedule& schedule = schedules.emplace_back(std::move(*built));
    // Every partition holds its earliest looks, as many as it has or may hold.
    const std::int64_t under =
        customers / partitions + (partition < customers % partitions ? 1 : 0);
    if (schedule.size() != std::min(schedule.capacity(), static_cast<std::size_t>(under))) {
      Fail("partition " + std::to_string(partition) + " holds " + std::to_string(schedule.size()) +
           " looks of its " + std::to_string(under));
    }
    figures.held_looks += static_cast<double>(schedule.size());
  }
  figures.rebuild_seconds = Seconds(SteadyClock::now() - rebuilt);
  figures.heap_bytes = HeapInUse() - heap_before;
  figures.us_per_customer = figures.rebuild_seconds * 1e6 / static_cast<double>(customers);
  return figures;
}

}  // namespace crm::bench
