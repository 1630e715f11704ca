#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
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

// Which RPCs need an authorised caller (--grpc-auth): kAdmin, only the admin
// ones (reads are open); kAll, every one (AuthOptions::all_rpcs).
enum class GrpcAuth : std::uint8_t { kAdmin, kAll };
inline constexpr std::array<GrpcAuth, 2> kGrpcAuths = {GrpcAuth::kAdmin, GrpcAuth::kAll};
// "admin" or "all", as --grpc-auth spells it.
std::string_view GrpcAuthName(GrpcAuth auth);
// The mode GrpcAuthName names; nullopt for any other text.
std::optional<GrpcAuth> ParseGrpcAuth(std::string_view name);

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
  // The secret the instances of a cluster share (--cluster-token-file): a
  // call another instance forwards carries it in place of the caller's
  // credentials, with the caller's name and role (empty: forwarded calls are
  // taken as anonymous ones).
  std::string cluster_token;
};

// The metadata of a call one instance forwards to another: who forwards it
// (answered where it lands, never forwarded again), the cluster token, and
// the caller's name and role as the forwarding instance authorised them.
inline constexpr char kForwardedByKey[] = "crm-forwarded-by";
inline constexpr char kClusterTokenKey[] = "crm-cluster-token";
inline constexpr char kForwardedForKey[] = "crm-forwarded-for";
inline constexpr char kForwardedRoleKey[] = "crm-forwarded-role";

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
  // on an admin RPC among them). A forwarded call (kForwardedByKey) is
  // authorised by the cluster token alone, for the role the forwarding
  // instance granted, its caller named "NAME via INSTANCE"; without a
  // cluster token configured it is an anonymous call.
  grpc::Status Check(const grpc::ServerContextBase& context, Role role, std::string* who) const;

  // Check for a caller of this process's own edge (the HTTP API) whose only
  // credential is `authorization`, an Authorization header's value (empty:
  // none): never forwarded, no certificate.
  grpc::Status CheckBearer(std::string_view authorization, Role role, std::string* who) const;

 private:
  // The strongest role a caller's credentials give, and its name.
  struct Credentials {
    std::optional<Role> role;
    std::string who;
    bool presented = false;  // some were presented, authorised or not
    void Hold(Role given, std::string name);
  };
  // Holds the role of the bearer token in `authorization`, if it is one.
  void HoldToken(std::string_view authorization, Credentials& held) const;
  // OK when `held` has `role` (an admin has both); the refusal otherwise.
  static grpc::Status Verdict(const Credentials& held, Role role, std::string* who);

  AuthOptions options_;
};

}  // namespace crm
