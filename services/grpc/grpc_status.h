#pragma once

// How the gRPC edge answers: absl::Status codes to gRPC's, and the statuses
// every call ends with kept short and printable.

#include <grpcpp/support/server_interceptor.h>
#include <grpcpp/support/status.h>

#include <cstddef>
#include <memory>

#include "absl/status/status.h"

namespace crm {

// The longest status message sent, in bytes: a client's metadata limit
// (8 KiB by default) must never turn an answer into RESOURCE_EXHAUSTED.
inline constexpr std::size_t kMaxStatusMessageBytes = 1024;

// `status` with its gRPC code (each absl code has the gRPC code of the same
// name) and its message, bounded as BoundedStatus says.
grpc::Status ToGrpc(const absl::Status& status);

// `status` as it is when its message is at most kMaxStatusMessageBytes and
// printable (IsPrintable, core/bounded_text.h); otherwise its message
// Quoted (escaped, in quotes), cut to fit kMaxStatusMessageBytes. The code is
// kept.
grpc::Status BoundedStatus(const grpc::Status& status);

// A server interceptor for every call of the server: a request that cannot be
// parsed (e.g. a string field that is not UTF-8, which protobuf refuses) is
// INVALID_ARGUMENT (gRPC itself answers INTERNAL or UNIMPLEMENTED), and every
// status message is bounded (BoundedStatus). Thread-safe.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> EdgeInterceptorFactory();

}  // namespace crm
