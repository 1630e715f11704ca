#include "bench/workload.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <unordered_map>

#include "core/customer_state.h"
#include "crm/v1/touchpoint.pb.h"
#include "services/codec/state_codec.h"
#include "services/codec/touchpoint_codec.h"
#include "tools/demo/population.h"

namespace crm::bench {

std::string Encode(const Touchpoint& touchpoint) {
  v1::Touchpoint message;
  ToProto(touchpoint, &message);
  return message.SerializeAsString();
}

Workload MakeWorkload(std::size_t touchpoints, int customers, std::uint64_t seed,
                      bool with_states) {
  demo::Population population({.customers = customers, .seed = seed});
  std::vector<Touchpoint> generated;
  generated.reserve(touchpoints);
  for (std::size_t i = 0; i < touchpoints; ++i) generated.push_back(population.Next());
  const Timestamp now = std::chrono::floor<Micros>(std::chrono::system_clock::now());
  const Micros shift = generated.empty()
                           ? Micros(0)
                           : (now - std::chrono::minutes(1)) - generated.back().occurred_at;

  Workload workload;
  workload.records.reserve(touchpoints);
  if (with_states) workload.states.reserve(touchpoints);
  std::unordered_map<std::string, CustomerState> states;
  const StateLimits limits;
  double record_bytes = 0, state_bytes = 0;
  for (std::size_t i = 0; i < generated.size(); ++i) {
    Touchpoint& touchpoint = generated[i];
    touchpoint.occurred_at += shift;
    Record& record = workload.records.emplace_back();
    record.key = touchpoint.customer_id.value();
    record.value = Encode(touchpoint);
    record_bytes += static_cast<double>(record.value.size());
    auto [it, added] = states.try_emplace(record.key);
    if (added) workload.customers.push_back(record.key);
    if (with_states) {
      ApplyTouchpoint(touchpoint, limits, it->second);
      workload.states.push_back(EncodeState(it->second));
      state_bytes += static_cast<double>(workload.states.back().size());
    }
    if ((i + 1) % 250'000 == 0) {
      std::cerr << "  generated " << (i + 1) << "/" << touchpoints << " touchpoints\n";
    }
  }
  if (!generated.empty()) {
    workload.mean_record_bytes = record_bytes / static_cast<double>(generated.size());
    workload.mean_state_bytes = state_bytes / static_cast<double>(generated.size());
  }
  return workload;
}

Summary Summarise(std::vector<double> samples_us) {
  Summary summary;
  summary.count = samples_us.size();
  if (samples_us.empty()) return summary;
  std::sort(samples_us.begin(), samples_us.end());
  const auto at = [&](double q) {
    const auto index = static_cast<std::size_t>(std::ceil(q * static_cast<double>(summary.count)));
    return samples_us[std::min(summary.count - 1, index == 0 ? 0 : index - 1)];
  };
  summary.p50_us = at(0.50);
  summary.p99_us = at(0.99);
  summary.max_us = samples_us.back();
  return summary;
}

}  // namespace crm::bench
