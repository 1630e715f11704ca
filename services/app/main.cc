// crm-scored: the scoring service. See services/app/scoring_app.h.
#include "absl/synchronization/mutex.h"
#include "services/app/options.h"
#include "services/app/scoring_app.h"

int main(int argc, char** argv) {
  crm::ParsedOptions parsed = crm::ParseServiceOptions(argc, argv);
  if (!parsed.options) return parsed.exit_code;
  // Debian's Abseil is built without NDEBUG, so every absl::Mutex (gRPC's
  // among them) would keep a lock-order graph: a few percent of a lookup's
  // CPU. The tests keep the detection on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return crm::RunScoringApp(*parsed.options);
}
