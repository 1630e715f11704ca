#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace grpc {
class ServerContextBase;
class Status;
}  // namespace grpc

namespace crm {

// What a call needs of its caller: a reader reads (lookups, rankings,
// alerts); an admin reads too, and erases.
enum class Role { kReader, kAdmin };

// Who may call what. Admin RPCs (EraseCustomer) always need an admin; the
// others need a reader or an admin only with `all_rpcs`.
struct AuthOptions {
  // Bearer tokens ("authorization: Bearer <token>"), each with the name that
  // stands for it in the audit trail and the logs (the token itself never does).
  struct Token {
    std::string name;
    std::string secret;
  };
  std::vector<Token> admin_tokens;
  std::vector<Token> reader_tokens;  // read only (--reader-token-file)
  // Identities of mutual-TLS client certificates (a common name or a subject
  // alternative name) authorised for admin RPCs, and for reads only.
  std::vector<std::string> admin_identities;
  std::vector<std::string> reader_identities;
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

  // OK when the caller holds `role` (an admin holds both), with the caller's
  // name in `*who` ("token:NAME", "mtls:IDENTITY", or "anonymous" for a read
  // without `all_rpcs`); UNAUTHENTICATED without credentials,
  // PERMISSION_DENIED with credentials not authorised for `role` (a reader's
  // on an admin RPC among them).
  grpc::Status Check(const grpc::ServerContextBase& context, Role role, std::string* who) const;

 private:
  AuthOptions options_;
};

}  // namespace crm
