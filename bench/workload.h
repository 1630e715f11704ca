#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/time.h"
#include "core/touchpoint.h"

namespace crm::bench {

// One record of the touchpoint topic, ready to produce.
struct Record {
  std::string key;    // the customer id
  std::string value;  // crm.v1.Touchpoint, protobuf binary
};

// The pre-produced stream of a run: the demo population's touchpoints (every
// channel and type, about 1 % duplicates), their event times shifted so that
// the last one is a minute ago.
struct Workload {
  std::vector<Record> records;
  // What the service stores after each record (its customer's state, encoded
  // as crm-scored does): the values of the bare storage loop.
  std::vector<std::string> states;
  std::vector<std::string> customers;  // distinct ids, in order of appearance
  double mean_record_bytes = 0;
  double mean_state_bytes = 0;
};

// `touchpoints` records of a demo population of `customers`; with
// `with_states`, also the state each one leaves. Reports progress on stderr.
Workload MakeWorkload(std::size_t touchpoints, int customers, std::uint64_t seed, bool with_states);

// The wire bytes of `touchpoint`.
std::string Encode(const Touchpoint& touchpoint);

// Latency samples in microseconds, summarised.
struct Summary {
  std::size_t count = 0;
  double p50_us = 0, p99_us = 0, max_us = 0;
};
Summary Summarise(std::vector<double> samples_us);

inline double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace crm::bench
