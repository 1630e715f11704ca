#include "tests/integration/grpc_health.h"

#include <grpcpp/generic/generic_stub.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

namespace crm::testing {

std::optional<int> HealthStatus(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& service) {
  // HealthCheckRequest: field 1, the service name.
  std::string request_bytes;
  if (!service.empty()) {
    request_bytes.push_back('\x0a');
    request_bytes.push_back(static_cast<char>(service.size()));
    request_bytes += service;
  }
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1), response;
  grpc::GenericStub generic(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::mutex mutex;
  std::condition_variable done_signal;
  bool done = false;
  grpc::Status status;
  generic.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                    &response, [&](grpc::Status s) {
                      std::lock_guard<std::mutex> lock(mutex);
                      status = std::move(s);
                      done = true;
                      done_signal.notify_one();
                    });
  std::unique_lock<std::mutex> lock(mutex);
  done_signal.wait(lock, [&] { return done; });
  if (!status.ok()) return std::nullopt;
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return std::nullopt;
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // HealthCheckResponse: field 1 (varint), the status; absent means 0 (UNKNOWN).
  if (bytes.size() == 2 && bytes[0] == '\x08') return bytes[1];
  return bytes.empty() ? std::optional<int>(0) : std::nullopt;
}

}  // namespace crm::testing
