#pragma once

#include <string>
#include <string_view>
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
  absl::Status RecordOutcome(const ErasureRequest& request, ErasureOutcome outcome,
                             std::string_view detail) override {
    if (fail) return absl::UnavailableError("injected audit failure");
    outcomes.push_back({request.customer, outcome, std::string(detail)});
    return absl::OkStatus();
  }

  struct Outcome {
    CustomerId customer;
    ErasureOutcome outcome;
    std::string detail;
  };
  std::vector<Outcome> outcomes;

  bool fail = false;
  std::vector<ErasureRequest> records;
};

}  // namespace crm::testing
