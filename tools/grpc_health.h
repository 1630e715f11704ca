#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace crm {

// The answer of grpc.health.v1.Health/Check.
enum class HealthState { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };

// "SERVING", "NOT_SERVING"…: the names of grpc.health.v1's enum.
const char* HealthStateName(HealthState state);

// grpc.health.v1.Health/Check for `service` ("" for the whole server), called
// without generated stubs (Debian ships no health.proto). A failed call is
// its gRPC status as an absl::Status (the codes are the same).
absl::StatusOr<HealthState> CheckHealth(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& service = "",
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace crm
