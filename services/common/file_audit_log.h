#pragma once

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/erasure.h"

namespace crm {

// The audit trail as an append-only file of JSON lines, each fsynced before
// Record or RecordOutcome returns: the request,
// {"at":"…","event":"erase","customer_id":"…","requested_by":"…"}, then its
// outcome, {"at":"…","event":"erase-outcome","customer_id":"…",
// "outcome":"erased|nothing-to-erase|refused|failed"[,"detail":"…"]} (`at`:
// when it was asked).
// Thread-safe.
class FileAuditLog final : public AuditLog {
 public:
  // Opens (creating if needed) `path` for appending; an error names it.
  static absl::StatusOr<std::unique_ptr<FileAuditLog>> Open(const std::string& path);
  ~FileAuditLog() override;

  absl::Status Record(const ErasureRequest& request) override;
  absl::Status RecordOutcome(const ErasureRequest& request, ErasureOutcome outcome,
                             std::string_view detail) override;

 private:
  // Appends `line` and fsyncs.
  absl::Status Append(const std::string& line);
  FileAuditLog(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  absl::Mutex mutex_;  // one line written and fsynced at a time
  int fd_;
  std::string path_;
};

}  // namespace crm
