#pragma once

// How this instance calls the others: one channel per peer, made once and
// kept (bounded), and the context of each forwarded call (its deadline, the
// cluster token, the caller's name and role in place of their credentials).

#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/server_context.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/clock.h"
#include "core/cluster.h"
#include "crm/v1/scoring.grpc.pb.h"
#include "services/grpc/admission.h"

namespace crm {

struct PeerChannelsOptions {
  // How to call the others (null: in plaintext), and whether that verifies
  // them: with `peers_verified`, a channel's TLS handshake fails unless the
  // certificate names the instance the cluster record claims.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  bool peers_verified = false;
  // Sent with every forwarded call (--cluster-token-file; see AuthOptions).
  std::string cluster_token;
  // The longest a forwarded call may take (less when the caller's deadline
  // is nearer).
  std::chrono::milliseconds forward_timeout = std::chrono::seconds(2);
  // This instance's name for the peers (null: "unknown").
  const ClusterView* cluster = nullptr;
};

// Thread-safe.
class PeerChannels {
 public:
  // `clock` is "now" of the deadlines. REQUIRES: the pointers and `clock`
  // outlive the channels.
  PeerChannels(PeerChannelsOptions options, const Clock& clock)
      : options_(std::move(options)), clock_(clock) {}

  // A stub on `member`'s service, its channel made once per (address,
  // instance). REQUIRES: PeerPolicy::Verified(member).
  std::shared_ptr<v1::ScoringService::Stub> Stub(const ClusterMember& member) const;

  // Prepares `forward` for forwarding `context`'s call made by `caller`: its
  // deadline (`timeout`, the forward timeout when zero, at most the caller's),
  // marked as forwarded (answered where it lands), with the cluster token and
  // the caller's name and role in place of the caller's credentials, which
  // are never sent on.
  void Prepare(const grpc::ServerContextBase& context, const Caller& caller,
               grpc::ClientContext* forward,
               std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) const;

  // The system_clock time point `from_now` after the clock's now (gRPC's
  // deadlines are system_clock time points).
  std::chrono::system_clock::time_point Deadline(std::chrono::milliseconds from_now) const;

 private:
  const PeerChannelsOptions options_;
  const Clock& clock_;
  mutable absl::Mutex mutex_;
  // By (address, instance).
  mutable std::map<std::pair<std::string, std::string>, std::shared_ptr<v1::ScoringService::Stub>>
      stubs_ ABSL_GUARDED_BY(mutex_);
};

// A peer's answer, said to come from `instance` (a name read from the
// cluster topic: quoted, cut), its message bounded. A TLS handshake that
// failed on the certificate's name says so plainly: nothing reached the peer.
grpc::Status Prefixed(const grpc::Status& status, const std::string& instance);

}  // namespace crm
