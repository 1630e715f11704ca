#pragma once

#include <signal.h>

#include "services/app/options.h"

namespace crm {

// What crm-scored sets up for the whole process, on the main thread before
// any other thread starts.

// The log's level and format (--log-level, --log-format), and libprotobuf's
// and gRPC's lines routed through the log.
void InstallLogging(const ServiceOptions& options);

// Blocks SIGTERM, SIGINT, SIGHUP and SIGUSR1 in this thread (and so in every
// thread it starts), to be taken by sigwait(); returns them. SIGUSR1 is how
// the consumer and publisher threads report their end.
sigset_t BlockSignals();

}  // namespace crm
