#include "services/grpc/peer_channels.h"

#include <grpcpp/create_channel.h>

#include <algorithm>

#include "services/grpc/grpc_status.h"
#include "services/grpc/requests.h"

namespace crm {
namespace {

// `text` as a metadata value: printable ASCII (others become '?'), cut.
std::string MetadataValue(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 256)) out += (c >= 0x20 && c < 0x7F) ? c : '?';
  return out;
}

}  // namespace

std::shared_ptr<v1::ScoringService::Stub> PeerChannels::Stub(const ClusterMember& member) const {
  absl::MutexLock lock(&mutex_);
  // Bounded: members come and go (and records naming peers are only hints);
  // past the bound the channels are made again as they are needed.
  constexpr std::size_t kMaxPeerChannels = 256;
  if (stubs_.size() >= kMaxPeerChannels && !stubs_.contains({member.address, member.instance})) {
    stubs_.clear();
  }
  std::shared_ptr<v1::ScoringService::Stub>& stub = stubs_[{member.address, member.instance}];
  if (!stub) {
    grpc::ChannelArguments args;
    // gRPC checks the certificate against this name instead of the
    // address's host: the peer must prove it is the instance it claims.
    // REQUIRES (PeerPolicy::Verified): the name is a CertificateName.
    if (options_.peers_verified) args.SetSslTargetNameOverride(member.instance);
    stub = v1::ScoringService::NewStub(grpc::CreateCustomChannel(
        member.address,
        options_.credentials ? options_.credentials : grpc::InsecureChannelCredentials(), args));
  }
  return stub;
}

std::chrono::system_clock::time_point PeerChannels::Deadline(
    std::chrono::milliseconds from_now) const {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          (clock_.Now() + from_now).time_since_epoch()));
}

void PeerChannels::Prepare(const grpc::ServerContextBase& context, const Caller& caller,
                           grpc::ClientContext* forward, std::chrono::milliseconds timeout) const {
  if (timeout.count() == 0) timeout = options_.forward_timeout;
  forward->set_deadline(std::min(Deadline(timeout), context.deadline()));
  // The caller's credentials stay here: this instance vouches for the caller
  // with the cluster token, naming them and the role it granted.
  forward->AddMetadata(kForwardedByKey,
                       MetadataValue(options_.cluster != nullptr ? options_.cluster->self()
                                                                 : std::string("unknown")));
  forward->AddMetadata(kForwardedForKey, MetadataValue(caller.name));
  forward->AddMetadata(kForwardedRoleKey, caller.role == Role::kAdmin ? "admin" : "reader");
  if (!options_.cluster_token.empty()) {
    forward->AddMetadata(kClusterTokenKey, options_.cluster_token);
  }
}

grpc::Status Prefixed(const grpc::Status& status, const std::string& instance) {
  if (status.ok()) return status;
  // gRPC's words for a certificate that does not name the instance.
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
      status.error_message().find("is not in peer certificate") != std::string::npos) {
    return BoundedStatus(
        {grpc::StatusCode::UNAVAILABLE,
         "the peer's certificate does not match the instance " + Quoted(instance) +
             " it claims to be (its subject alternative names must list that name, its "
             "--instance-id): nothing was forwarded to it"});
  }
  return BoundedStatus(
      {status.error_code(), "from " + Quoted(instance) + ": " + status.error_message()});
}

}  // namespace crm
