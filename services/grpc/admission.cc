#include "services/grpc/admission.h"

namespace crm {

grpc::Status Admission::Authenticate(const grpc::ServerContextBase& context, Role role,
                                     Caller* caller) const {
  caller->role = role;
  caller->forwarded = context.client_metadata().count(kForwardedByKey) > 0;
  if (authorizer_ != nullptr) return authorizer_->Check(context, role, &caller->name);
  return Anonymous(caller);
}

grpc::Status Admission::Anonymous(Caller* caller) {
  if (caller->role == Role::kReader) {
    caller->name = "anonymous";
    return grpc::Status::OK;
  }
  return {grpc::StatusCode::PERMISSION_DENIED,
          "admin calls are refused: no admin token file nor client identity is configured"};
}

}  // namespace crm
