#pragma once

#include "services/app/options.h"

namespace crm {

// Runs crm-scored until SIGTERM or SIGINT: opens the state, starts the
// embedded broker when no brokers are named, serves gRPC and /metrics, and
// consumes touchpoints on the consumer thread. On a signal it stops consuming,
// leaves the group, flushes state and returns 0; on a fatal error it logs one
// line and returns 1.
// REQUIRES: called from the main thread before any other thread is started
// (it blocks the signals it waits for in every thread it creates).
int RunScoringApp(const ServiceOptions& options);

}  // namespace crm
