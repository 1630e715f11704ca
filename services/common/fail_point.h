#pragma once

#include <string_view>

namespace crm {

// Crash points for fault-injection tests (in the manner of FreeBSD's fail
// points and RocksDB's sync points). The environment variable
// CRM_FAIL_POINTS="NAME[:N][,NAME[:N]...]" makes the N-th pass (default the
// first) through the point NAME end the process at once with exit code 86, as
// a SIGKILL would: no destructor, no flush. Unset, a point costs a look at an
// empty map. Thread-safe.
//
// Points: "commit-with-alert" (storage, before a commit that raises an
// alert is written), "alert-delivered" (the alert publisher, after Kafka
// acknowledged alerts, before they leave the outbox).
void FailPoint(std::string_view name);

// The same, but instead of ending the process it returns true on that pass
// (false otherwise), for the caller to fail as the environment could make it:
// "commit-error" (storage: a commit fails as a broken disk would),
// "commit-no-space" (storage: a commit fails as on a full disk). Armed as
// NAME@PATH, a point fails on every pass while the file PATH exists (a fault
// that a test starts and clears).
bool FailPointFails(std::string_view name);

inline constexpr int kFailPointExitCode = 86;

}  // namespace crm
