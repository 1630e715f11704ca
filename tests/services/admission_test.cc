// The gate of every RPC, called directly (a context of no call: no
// credentials, not forwarded): who may call what, and that the caller is
// checked before the request.
#include "services/grpc/admission.h"

#include <grpcpp/server_context.h>
#include <gtest/gtest.h>

namespace crm {
namespace {

TEST(AdmissionTest, WithoutAnAuthorizerReadsAreOpenAndErasureIsRefused) {
  const Admission admission(nullptr);
  grpc::ServerContext context;
  Caller caller;
  v1::GetCustomerScoresRequest read;
  read.set_customer_id("c1");
  ASSERT_TRUE(admission.Admit(context, read, &caller).ok());
  EXPECT_EQ(caller.name, "anonymous");
  EXPECT_EQ(caller.role, Role::kReader);
  EXPECT_FALSE(caller.forwarded);

  v1::EraseCustomerRequest erase;
  erase.set_customer_id("c1");
  EXPECT_EQ(admission.Admit(context, erase, &caller).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST(AdmissionTest, EveryRequestButErasureNeedsAReaderOnly) {
  EXPECT_EQ(RoleOf(v1::GetCustomerScoresRequest()), Role::kReader);
  EXPECT_EQ(RoleOf(v1::BatchGetCustomerScoresRequest()), Role::kReader);
  EXPECT_EQ(RoleOf(v1::GetCustomerStateRequest()), Role::kReader);
  EXPECT_EQ(RoleOf(v1::ListAtRiskCustomersRequest()), Role::kReader);
  EXPECT_EQ(RoleOf(v1::WatchAlertsRequest()), Role::kReader);
  EXPECT_EQ(RoleOf(v1::EraseCustomerRequest()), Role::kAdmin);
}

TEST(AdmissionTest, TheCallerIsCheckedBeforeTheRequest) {
  const Authorizer authorizer({.all_rpcs = true});
  const Admission admission(&authorizer);
  grpc::ServerContext context;
  Caller caller;
  v1::GetCustomerScoresRequest bad;  // no customer_id
  EXPECT_EQ(admission.Admit(context, bad, &caller).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  const Admission open(nullptr);
  const grpc::Status invalid = open.Admit(context, bad, &caller);
  EXPECT_EQ(invalid.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(invalid.error_message().find("customer_id"), std::string::npos)
      << invalid.error_message();
}

TEST(GrpcAuthTest, EveryNameParsesBack) {
  for (GrpcAuth auth : kGrpcAuths) EXPECT_EQ(ParseGrpcAuth(GrpcAuthName(auth)), auth);
  EXPECT_EQ(GrpcAuthName(GrpcAuth::kAdmin), "admin");
  EXPECT_EQ(GrpcAuthName(GrpcAuth::kAll), "all");
  for (std::string_view name : {"", "ALL", "nobody", "reader"}) {
    EXPECT_EQ(ParseGrpcAuth(name), std::nullopt) << name;
  }
}

}  // namespace
}  // namespace crm
