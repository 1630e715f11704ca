#pragma once

// HTTP lookups for crm-bench: GET /v1/customers/{id}/scores from callers
// each on one kept-alive connection, to set beside the gRPC lookups.

#include <cstdint>
#include <string>
#include <vector>

namespace crm::bench {

struct HttpLookupResult {
  std::vector<double> samples_us;  // each call's latency
  double rate = 0;                 // calls answered per second
  std::int64_t errors = 0;         // answers other than 200, and broken connections
};

// `callers` threads, each with one call in flight on its own connection to
// `address` ("127.0.0.1:PORT"), on random ids of `customers`, for `seconds`.
HttpLookupResult HttpLookups(const std::string& address, const std::vector<std::string>& customers,
                             int callers, double seconds);

}  // namespace crm::bench
