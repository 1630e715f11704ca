#pragma once

// What the scoring service needs beyond the state and the scorer.

#include <grpcpp/security/credentials.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "core/alerts.h"
#include "core/clock.h"
#include "core/cluster.h"
#include "core/erasure.h"
#include "core/partition_ownership.h"
#include "core/shared_states.h"
#include "services/grpc/alert_hub.h"
#include "services/grpc/authorizer.h"
#include "services/grpc/peer_router.h"

namespace crm {

// What the service needs beyond the state and the scorer; every pointer may
// be null and must otherwise outlive the service.
struct ScoringServiceOptions {
  AlertHub* alerts = nullptr;  // null: WatchAlerts is UNIMPLEMENTED
  // The alert policy: how far the at-risk index may be from the truth (its
  // risk precision), who is at risk and what to recommend for them.
  AlertPolicy alert_policy;
  // Who may call what; null: every RPC is open but the admin ones, refused.
  const Authorizer* authorizer = nullptr;
  ErasureQueue* erasures = nullptr;  // null: EraseCustomer is UNIMPLEMENTED
  // "Now" of erasure requests and of the cluster's records (null: `clock`).
  const Clock* wall_clock = nullptr;
  // How long EraseCustomer waits for the consumer thread to carry it out.
  std::chrono::milliseconds erase_timeout = std::chrono::seconds(30);
  // Which partitions this instance owns and serves: a lookup that may be
  // about to change, or is another instance's, answers UNAVAILABLE (null:
  // every partition is this instance's, always served).
  const PartitionOwnership* ownership = nullptr;
  // The committed states the consumer thread holds in memory: a lookup reads
  // its customer there first, the store only when absent (null: the store).
  const SharedStates* shared_states = nullptr;
  // Scale-out (null: this instance answers alone). The instances of the
  // group and the partitions each owns: a lookup of a customer whose
  // partition another instance owns is forwarded to it, and ListAtRisk
  // merges every owner's ranking. `partition_of` gives the partition of a
  // customer this instance does not know (their key's, by the producers'
  // partitioner), of `count`.
  const ClusterView* cluster = nullptr;
  PartitionOf partition_of;
  // How this instance calls the others (null: in plaintext), and whether
  // that verifies them: TLS against the operator's CA (--peer-tls-ca), the
  // certificate naming the instance the cluster record claims (its
  // ClusterMember::instance, checked as gRPC checks a hostname: a DNS or IP
  // subject alternative name, or the common name). Unverified, a call is
  // forwarded only to a loopback address, or to any with `insecure_peers`
  // (--allow-insecure-peers).
  std::shared_ptr<grpc::ChannelCredentials> peer_credentials;
  bool peers_verified = false;
  bool insecure_peers = false;
  // Sent with every forwarded call (--cluster-token-file; see AuthOptions).
  std::string cluster_token;
  // The longest a forwarded call may take (less when the caller's deadline
  // is nearer).
  std::chrono::milliseconds forward_timeout = std::chrono::seconds(2);
  // ListAtRiskCustomers' bounds on one instance's work: at most this many
  // customers scored, for at most this long (less when the caller's deadline
  // is nearer). When either is reached the answer is the best of those
  // scored, flagged `partial` with the reason.
  std::size_t rank_max_candidates = 100'000;
  std::chrono::milliseconds rank_budget = std::chrono::seconds(5);
};

}  // namespace crm
