#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace grpc {
class ServerContextBase;
class Status;
}  // namespace grpc

namespace crm {

// Who may call what. Admin RPCs (EraseCustomer) always need an authorised
// caller; the others only with `all_rpcs`.
struct AuthOptions {
  // Bearer tokens ("authorization: Bearer <token>"), each with the name that
  // stands for it in the audit trail and the logs (the token itself never does).
  struct Token {
    std::string name;
    std::string secret;
  };
  std::vector<Token> admin_tokens;
  // Identities of mutual-TLS client certificates (a common name or a subject
  // alternative name) authorised for admin RPCs.
  std::vector<std::string> admin_identities;
  bool all_rpcs = false;  // every RPC, not only the admin ones, needs an authorised caller
};

// Reads a token file: one token a line, "NAME:TOKEN" or a bare TOKEN (named
// "token-<line>"); blank lines and lines starting with '#' are skipped.
// InvalidArgument naming the file and line when a line is bad or none is
// found; the error never shows a token.
absl::StatusOr<std::vector<AuthOptions::Token>> ReadTokenFile(const std::string& path);

// Decides on each call from its metadata and TLS peer. Thread-safe (immutable).
class Authorizer {
 public:
  explicit Authorizer(AuthOptions options) : options_(std::move(options)) {}

  // OK, with the caller's name in `*who` ("token:NAME", "mtls:IDENTITY", or
  // "anonymous" for an open RPC); UNAUTHENTICATED without credentials,
  // PERMISSION_DENIED with credentials not authorised.
  grpc::Status Check(const grpc::ServerContextBase& context, bool admin, std::string* who) const;

 private:
  AuthOptions options_;
};

}  // namespace crm
