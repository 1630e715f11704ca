#include "tools/grpc_health.h"

#include <grpcpp/generic/generic_stub.h>

#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"

namespace crm {

const char* HealthStateName(HealthState state) {
  switch (state) {
    case HealthState::kServing:
      return "SERVING";
    case HealthState::kNotServing:
      return "NOT_SERVING";
    case HealthState::kServiceUnknown:
      return "SERVICE_UNKNOWN";
    case HealthState::kUnknown:
      break;
  }
  return "UNKNOWN";
}

absl::StatusOr<HealthState> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                        const std::string& service,
                                        std::chrono::milliseconds timeout) {
  // HealthCheckRequest: field 1 (length-delimited), the service name.
  std::string request_bytes;
  if (!service.empty()) {
    request_bytes.push_back('\x0a');
    for (std::size_t n = service.size();; n >>= 7) {
      request_bytes.push_back(static_cast<char>((n & 0x7f) | (n > 0x7f ? 0x80 : 0)));
      if (n <= 0x7f) break;
    }
    request_bytes += service;
  }
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1), response;
  grpc::GenericStub generic(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  absl::Notification done;
  grpc::Status status;  // written before done is notified
  generic.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                    &response, [&](grpc::Status s) {
                      status = std::move(s);
                      done.Notify();
                    });
  done.WaitForNotification();
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  }
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return absl::InternalError("unreadable health answer");
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // HealthCheckResponse: field 1 (varint), the status; absent means UNKNOWN.
  if (bytes.empty()) return HealthState::kUnknown;
  if (bytes.size() == 2 && bytes[0] == '\x08' && bytes[1] >= 0 && bytes[1] <= 3) {
    return static_cast<HealthState>(bytes[1]);
  }
  return absl::InternalError("unexpected health answer");
}

}  // namespace crm
