#pragma once

#include <vector>

#include "absl/status/status.h"
#include "core/erasure.h"

namespace crm::testing {

// An AuditLog that keeps what it is told, or refuses everything once `fail`
// is set. Used from one thread.
class RecordingAuditLog final : public AuditLog {
 public:
  absl::Status Record(const ErasureRequest& request) override {
    if (fail) return absl::UnavailableError("injected audit failure");
    records.push_back(request);
    return absl::OkStatus();
  }

  bool fail = false;
  std::vector<ErasureRequest> records;
};

}  // namespace crm::testing
