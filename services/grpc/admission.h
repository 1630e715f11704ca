#pragma once

// The one gate of every RPC of the scoring service: who the caller is, whether
// they hold the role the call needs, and whether the request is valid, in
// that order, before any work is done. Thread-safe (immutable).

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <string>

#include "crm/v1/scoring.pb.h"
#include "services/grpc/authorizer.h"
#include "services/grpc/grpc_status.h"
#include "services/grpc/requests.h"

namespace crm {

// The caller of one admitted call.
struct Caller {
  // Their name for the audit trail and the logs: "token:NAME",
  // "mtls:IDENTITY", "NAME via INSTANCE" (forwarded), or "anonymous".
  std::string name;
  Role role = Role::kReader;  // the role the call needed, which they hold
  // Forwarded by another instance (kForwardedByKey): the call is answered
  // where it lands, never forwarded again.
  bool forwarded = false;
};

// The role each request needs: erasure is an admin's; the rest is reading.
inline Role RoleOf(const v1::EraseCustomerRequest& /*request*/) { return Role::kAdmin; }
template <typename Request>
Role RoleOf(const Request& /*request*/) {
  return Role::kReader;
}

class Admission {
 public:
  // `authorizer` null: every read is open (its caller "anonymous") and every
  // admin call is refused. REQUIRES: `authorizer` outlives the admission.
  explicit Admission(const Authorizer* authorizer) : authorizer_(authorizer) {}

  // OK, with `*caller` filled, when the caller holds RoleOf(request) (see
  // Authorizer::Check) and `request` is valid (services/grpc/requests.h);
  // else the status to answer: UNAUTHENTICATED, PERMISSION_DENIED or
  // INVALID_ARGUMENT.
  template <typename Request>
  grpc::Status Admit(const grpc::ServerContextBase& context, const Request& request,
                     Caller* caller) const {
    if (grpc::Status allowed = Authenticate(context, RoleOf(request), caller); !allowed.ok()) {
      return allowed;
    }
    return ToGrpc(Validate(request));
  }

  // Admit for a caller of this process's own edge (the HTTP API) whose only
  // credential is an Authorization header's value (Authorizer::CheckBearer).
  template <typename Request>
  grpc::Status AdmitBearer(std::string_view authorization, const Request& request,
                           Caller* caller) const {
    caller->role = RoleOf(request);
    caller->forwarded = false;
    grpc::Status allowed = authorizer_ != nullptr ? authorizer_->CheckBearer(
                                                        authorization, caller->role, &caller->name)
                                                  : Anonymous(caller);
    if (!allowed.ok()) return allowed;
    return ToGrpc(Validate(request));
  }

 private:
  // The verdict without an authorizer: reads are open, admin calls refused.
  static grpc::Status Anonymous(Caller* caller);
  grpc::Status Authenticate(const grpc::ServerContextBase& context, Role role,
                            Caller* caller) const;

  const Authorizer* const authorizer_;
};

}  // namespace crm
