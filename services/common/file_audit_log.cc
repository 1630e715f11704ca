#include "services/common/file_audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "services/common/log.h"

namespace crm {

absl::StatusOr<std::unique_ptr<FileAuditLog>> FileAuditLog::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError("cannot open audit log " + path + ": " +
                                         std::strerror(errno));
  }
  return std::unique_ptr<FileAuditLog>(new FileAuditLog(fd, path));
}

FileAuditLog::~FileAuditLog() { ::close(fd_); }

absl::Status FileAuditLog::Record(const ErasureRequest& request) {
  if (absl::Status s =
          Append("{\"at\":" + JsonString(IsoTime(request.requested_at)) +
                 ",\"event\":\"erase\",\"customer_id\":" + JsonString(request.customer.value()) +
                 ",\"requested_by\":" + JsonString(request.requested_by) + "}\n");
      !s.ok()) {
    return s;
  }
  CRM_LOG(kInfo, "audit") << "erase customer_id=" << request.customer.value()
                          << " requested_by=" << request.requested_by
                          << " at=" << IsoTime(request.requested_at);
  return absl::OkStatus();
}

absl::Status FileAuditLog::RecordOutcome(const ErasureRequest& request, ErasureOutcome outcome,
                                         std::string_view detail) {
  std::string line =
      "{\"at\":" + JsonString(IsoTime(request.requested_at)) +
      ",\"event\":\"erase-outcome\",\"customer_id\":" + JsonString(request.customer.value()) +
      ",\"outcome\":" + JsonString(ErasureOutcomeName(outcome));
  if (!detail.empty()) line += ",\"detail\":" + JsonString(detail);
  if (absl::Status s = Append(line + "}\n"); !s.ok()) return s;
  CRM_LOG(kInfo, "audit") << "erase customer_id=" << request.customer.value()
                          << " outcome=" << ErasureOutcomeName(outcome)
                          << (detail.empty() ? "" : " detail=") << detail;
  return absl::OkStatus();
}

absl::Status FileAuditLog::Append(const std::string& line) {
  absl::MutexLock lock(&mutex_);
  if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
      ::fsync(fd_) != 0) {
    return absl::UnavailableError("cannot write audit log " + path_ + ": " + std::strerror(errno));
  }
  return absl::OkStatus();
}

}  // namespace crm
