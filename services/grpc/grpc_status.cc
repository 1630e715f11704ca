#include "services/grpc/grpc_status.h"

#include <grpcpp/support/interceptor.h>

#include <algorithm>
#include <string>

#include "services/grpc/requests.h"

namespace crm {
namespace {

grpc::StatusCode GrpcCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return grpc::StatusCode::OK;
    case absl::StatusCode::kCancelled:
      return grpc::StatusCode::CANCELLED;
    case absl::StatusCode::kUnknown:
      return grpc::StatusCode::UNKNOWN;
    case absl::StatusCode::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case absl::StatusCode::kDeadlineExceeded:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case absl::StatusCode::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case absl::StatusCode::kAlreadyExists:
      return grpc::StatusCode::ALREADY_EXISTS;
    case absl::StatusCode::kPermissionDenied:
      return grpc::StatusCode::PERMISSION_DENIED;
    case absl::StatusCode::kResourceExhausted:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case absl::StatusCode::kFailedPrecondition:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case absl::StatusCode::kAborted:
      return grpc::StatusCode::ABORTED;
    case absl::StatusCode::kOutOfRange:
      return grpc::StatusCode::OUT_OF_RANGE;
    case absl::StatusCode::kUnimplemented:
      return grpc::StatusCode::UNIMPLEMENTED;
    case absl::StatusCode::kInternal:
      return grpc::StatusCode::INTERNAL;
    case absl::StatusCode::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case absl::StatusCode::kDataLoss:
      return grpc::StatusCode::DATA_LOSS;
    case absl::StatusCode::kUnauthenticated:
      return grpc::StatusCode::UNAUTHENTICATED;
    default:  // a code added after this was written
      return grpc::StatusCode::UNKNOWN;
  }
}

// Whether `message` is one line of printable text within the bound already.
bool Bounded(const std::string& message) {
  return message.size() <= kMaxStatusMessageBytes && IsPrintable(message);
}

class EdgeInterceptor final : public grpc::experimental::Interceptor {
 public:
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      unparsed_ = true;  // gRPC could not deserialise the request
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      if (unparsed_) {
        methods->ModifySendStatus(
            {grpc::StatusCode::INVALID_ARGUMENT,
             "the request could not be parsed: a string field that is not valid UTF-8, or a "
             "message that is not of the method's request type"});
      } else if (!status.ok() && !Bounded(status.error_message())) {
        methods->ModifySendStatus(BoundedStatus(status));
      }
    }
    methods->Proceed();
  }

 private:
  bool unparsed_ = false;
};

class EdgeInterceptorFactoryImpl final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* /*info*/) override {
    return new EdgeInterceptor();
  }
};

}  // namespace

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return BoundedStatus({GrpcCode(status.code()), std::string(status.message())});
}

grpc::Status BoundedStatus(const grpc::Status& status) {
  const std::string& text = status.error_message();
  if (Bounded(text)) return status;
  // Quoted escapes and cuts, but an escape is up to 4 bytes per byte shown:
  // the most of `text` whose quoted form fits (an empty cut always does).
  std::size_t fits = 0, over = std::min(text.size(), kMaxStatusMessageBytes) + 1;
  while (over - fits > 1) {
    const std::size_t middle = fits + (over - fits) / 2;
    if (Quoted(text, middle).size() <= kMaxStatusMessageBytes) {
      fits = middle;
    } else {
      over = middle;
    }
  }
  return {status.error_code(), Quoted(text, fits), status.error_details()};
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> EdgeInterceptorFactory() {
  return std::make_unique<EdgeInterceptorFactoryImpl>();
}

}  // namespace crm
