#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>

namespace crm::testing {

// grpc.health.v1.Health/Check for `service` ("" for the whole server),
// called without generated stubs: the status enum of the answer (1 SERVING,
// 2 NOT_SERVING), or nullopt when the call failed.
std::optional<int> HealthStatus(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& service = "");

}  // namespace crm::testing
