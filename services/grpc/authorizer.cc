#include "services/grpc/authorizer.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>
#include <grpcpp/server_context.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <string_view>

#include "core/closed_set.h"

namespace crm {
namespace {

// Compares in time independent of where the strings differ.
bool SameSecret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

std::string Trim(const std::string& text) {
  const std::size_t begin = text.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t\r") - begin + 1);
}

}  // namespace

absl::StatusOr<std::vector<AuthOptions::Token>> ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError("cannot read token file " + path);
  std::vector<AuthOptions::Token> tokens;
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    AuthOptions::Token token;
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) {
      token = {"token-" + std::to_string(number), line};
    } else {
      token = {Trim(line.substr(0, colon)), Trim(line.substr(colon + 1))};
    }
    if (token.name.empty() || token.secret.size() < 16 ||
        token.secret.find_first_of(" \t") != std::string::npos) {
      return absl::InvalidArgumentError(path + " line " + std::to_string(number) +
                                        ": expected NAME:TOKEN or TOKEN, the token of 16 "
                                        "characters or more without blanks");
    }
    tokens.push_back(std::move(token));
  }
  if (tokens.empty()) return absl::InvalidArgumentError("no token in " + path);
  return tokens;
}

grpc::Status Authorizer::Check(const grpc::ServerContextBase& context, Role role,
                               std::string* who) const {
  const auto& metadata = context.client_metadata();
  const auto value_of = [&metadata](const char* key) -> std::optional<std::string_view> {
    const auto it = metadata.find(key);
    if (it == metadata.end()) return std::nullopt;
    return std::string_view(it->second.data(), it->second.size());
  };
  // Forwarded by another instance: the peer authenticates, not the caller
  // (whose credentials never leave the instance they reached).
  if (const auto by = value_of(kForwardedByKey); by && !options_.cluster_token.empty()) {
    const auto token = value_of(kClusterTokenKey);
    if (!token || !SameSecret(*token, options_.cluster_token)) {
      return {grpc::StatusCode::UNAUTHENTICATED,
              "a call forwarded by another instance needs the cluster token"};
    }
    const auto granted = value_of(kForwardedRoleKey);
    if (role == Role::kAdmin && granted != std::string_view("admin")) {
      return {grpc::StatusCode::PERMISSION_DENIED,
              "the forwarding instance did not authorise the caller for this call"};
    }
    const auto cut = [](std::string_view text) {
      std::string out;
      for (char c : text.substr(0, 128)) {
        out += (c > 0x20 && c < 0x7F) ? c : '?';
      }
      return out;
    };
    *who = cut(value_of(kForwardedForKey).value_or("anonymous")) + " via " + cut(*by);
    return grpc::Status::OK;
  }
  if (role == Role::kReader && !options_.all_rpcs) {
    *who = "anonymous";
    return grpc::Status::OK;
  }
  // The strongest role the caller's credentials give, and its name.
  Credentials held;
  const auto listed = [](const std::vector<std::string>& identities, const std::string& identity) {
    return std::find(identities.begin(), identities.end(), identity) != identities.end();
  };
  // A mutual-TLS client certificate, verified by the TLS layer.
  if (const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
      auth != nullptr && auth->IsPeerAuthenticated()) {
    std::vector<grpc::string_ref> names = auth->FindPropertyValues(GRPC_X509_SAN_PROPERTY_NAME);
    const std::vector<grpc::string_ref> common =
        auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
    names.insert(names.end(), common.begin(), common.end());
    for (const grpc::string_ref& name : names) {
      held.presented = true;
      const std::string identity(name.data(), name.size());
      if (listed(options_.admin_identities, identity)) held.Hold(Role::kAdmin, "mtls:" + identity);
      if (listed(options_.reader_identities, identity)) {
        held.Hold(Role::kReader, "mtls:" + identity);
      }
    }
  }
  for (auto [it, end] = metadata.equal_range("authorization"); it != end; ++it) {
    HoldToken(std::string_view(it->second.data(), it->second.size()), held);
  }
  return Verdict(held, role, who);
}

grpc::Status Authorizer::CheckBearer(std::string_view authorization, Role role,
                                     std::string* who) const {
  if (role == Role::kReader && !options_.all_rpcs) {
    *who = "anonymous";
    return grpc::Status::OK;
  }
  Credentials held;
  HoldToken(authorization, held);
  return Verdict(held, role, who);
}

void Authorizer::Credentials::Hold(Role given, std::string name) {
  if (!role || (*role == Role::kReader && given == Role::kAdmin)) {
    role = given;
    who = std::move(name);
  }
}

void Authorizer::HoldToken(std::string_view authorization, Credentials& held) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (!authorization.starts_with(kBearer)) return;
  held.presented = true;
  const std::string_view secret = authorization.substr(kBearer.size());
  for (const AuthOptions::Token& token : options_.admin_tokens) {
    if (SameSecret(secret, token.secret)) held.Hold(Role::kAdmin, "token:" + token.name);
  }
  for (const AuthOptions::Token& token : options_.reader_tokens) {
    if (SameSecret(secret, token.secret)) held.Hold(Role::kReader, "token:" + token.name);
  }
}

grpc::Status Authorizer::Verdict(const Credentials& held, Role role, std::string* who) {
  if (held.role) *who = held.who;
  if (held.role && (*held.role == Role::kAdmin || role == Role::kReader)) return grpc::Status::OK;
  if (held.role) {
    return {grpc::StatusCode::PERMISSION_DENIED,
            "the caller (" + *who + ") may read but not make this call: it needs an admin"};
  }
  if (!held.presented) {
    return {grpc::StatusCode::UNAUTHENTICATED,
            "this call needs an authorised caller: a bearer token or a client certificate"};
  }
  return {grpc::StatusCode::PERMISSION_DENIED, "the caller is not authorised for this call"};
}

std::string_view GrpcAuthName(GrpcAuth auth) {
  static constexpr std::array<std::string_view, kGrpcAuths.size()> kNames = {"admin", "all"};
  return kNames[static_cast<std::size_t>(auth)];
}

std::optional<GrpcAuth> ParseGrpcAuth(std::string_view name) {
  return ParseByName(kGrpcAuths, GrpcAuthName, name);
}

}  // namespace crm
