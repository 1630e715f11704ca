#pragma once

#include <grpcpp/security/credentials.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "core/board.h"
#include "core/changelog.h"
#include "core/clock.h"
#include "core/cluster.h"
#include "core/erasure.h"
#include "core/partition_ownership.h"
#include "core/population.h"
#include "core/scorer.h"
#include "core/state_store.h"
#include "crm/v1/scoring.grpc.pb.h"
#include "services/grpc/admission.h"
#include "services/grpc/alert_hub.h"
#include "services/grpc/authorizer.h"
#include "services/grpc/peer_router.h"

namespace grpc {
class Server;
}

namespace crm {

// What the service needs beyond the state and the scorer; every pointer may
// be null and must otherwise outlive the service.
struct ScoringServiceOptions {
  AlertHub* alerts = nullptr;  // null: WatchAlerts is UNIMPLEMENTED
  // The alert policy's: how far the at-risk index may be from the truth.
  double risk_precision = 0.02;
  // Who may call what; null: every RPC is open but the admin ones, refused.
  const Authorizer* authorizer = nullptr;
  ErasureQueue* erasures = nullptr;  // null: EraseCustomer is UNIMPLEMENTED
  // "Now" of erasure requests and of the cluster's records (null: `clock`).
  const Clock* wall_clock = nullptr;
  // How long EraseCustomer waits for the consumer thread to carry it out.
  std::chrono::milliseconds erase_timeout = std::chrono::seconds(30);
  // Partitions being restored: lookups that may be about to change answer
  // UNAVAILABLE meanwhile (null: none ever is).
  const PartitionOwnership* restoring = nullptr;
  // Scale-out (null: this instance answers alone). The instances of the
  // group and the partitions each owns: a lookup of a customer whose
  // partition another instance owns is forwarded to it, and ListAtRisk
  // merges every owner's ranking. `partition_of` gives the partition of a
  // customer this instance does not know (their key's, by the producers'
  // partitioner), of `count`.
  const ClusterView* cluster = nullptr;
  std::function<std::int32_t(std::string_view key, std::int32_t count)> partition_of;
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

// The lookups are served on gRPC's callback API, on gRPC's own threads, with
// no hand-over to the synchronous server's pool, whose threads come and go as
// the load moves (BENCHMARKS.md, third round); so is WatchAlerts, whose
// streams would otherwise hold a thread each; erasure and the rarer reads
// stay synchronous.
using ScoringServiceBase = v1::ScoringService::WithCallbackMethod_GetCustomerScores<
    v1::ScoringService::WithCallbackMethod_BatchGetCustomerScores<
        v1::ScoringService::WithCallbackMethod_WatchAlerts<v1::ScoringService::Service>>>;

// crm.v1.ScoringService on the committed state: a reader never sees part of a
// batch. Called concurrently from gRPC's threads; its only mutable state is
// the cache of channels to the other instances.
class ScoringServiceImpl final : public ScoringServiceBase {
 public:
  // The pointers must outlive the service. Each call scores with the model and
  // the population current when it starts; `clock` is "now" of queries.
  ScoringServiceImpl(StateStore* store, const Board<Scorer>* scorer,
                     const PopulationBoard* population, const Clock* clock,
                     ScoringServiceOptions options = {})
      : store_(store),
        scorer_(scorer),
        population_(population),
        clock_(clock),
        options_(options),
        wall_clock_(options.wall_clock != nullptr ? *options.wall_clock : *clock),
        admission_(options.authorizer),
        router_({.ownership = options.restoring,
                 .cluster = options.cluster,
                 .partition_of = options.partition_of,
                 .policy = {.peers_verified = options.peers_verified,
                            .insecure_peers = options.insecure_peers}},
                wall_clock_) {}

  grpc::ServerUnaryReactor* GetCustomerScores(grpc::CallbackServerContext* context,
                                              const v1::GetCustomerScoresRequest* request,
                                              v1::CustomerScores* response) override;
  grpc::ServerUnaryReactor* BatchGetCustomerScores(
      grpc::CallbackServerContext* context, const v1::BatchGetCustomerScoresRequest* request,
      v1::BatchGetCustomerScoresResponse* response) override;
  grpc::Status GetCustomerState(grpc::ServerContext* context,
                                const v1::GetCustomerStateRequest* request,
                                v1::CustomerState* response) override;
  // The top_n customers (1-1000; 0: 100) by churn as of now, highest first,
  // of one ABC segment or all, with their scores: read down the at-risk index
  // (each customer's churn at a recent look, which the time index keeps
  // within 1.5 × risk_precision of the current one) and re-scored, until no
  // customer left in the index could rank, or a bound of the options is
  // reached (the answer is then flagged `partial`). Prospects are never at
  // risk. In a cluster every other owner is asked at once, each within the
  // forward timeout; one not answering in time makes the call UNAVAILABLE.
  grpc::Status ListAtRiskCustomers(grpc::ServerContext* context,
                                   const v1::ListAtRiskCustomersRequest* request,
                                   v1::ListAtRiskCustomersResponse* response) override;
  // Alerts as they are delivered to crm.alerts, from the moment of the call,
  // filtered by segment (empty: all), minimum churn and action (empty: all).
  // On the callback API (services/grpc/alert_watch.h): no thread per
  // stream, at most the hub's max_subscribers at once, each with a queue
  // bounded in bytes that a caller not reading cannot make block delivery.
  grpc::ServerWriteReactor<v1::ChurnAlert>* WatchAlerts(
      grpc::CallbackServerContext* context, const v1::WatchAlertsRequest* request) override;
  // Admin: forgets the customer (state, index entries, open and undelivered
  // alerts), recorded in the audit trail with the caller's name first;
  // erased = false when there was nothing to erase. Routed like a lookup:
  // carried out by the consumer thread of the instance that owns the
  // customer's partition (forwarded to it when that is another), UNAVAILABLE
  // when no instance owns it now or it is being restored, or when the owner
  // did not carry it out within the erase timeout (the request may still be
  // carried out: retrying is safe).
  grpc::Status EraseCustomer(grpc::ServerContext* context, const v1::EraseCustomerRequest* request,
                             v1::EraseCustomerResponse* response) override;

 private:
  void Stamp(std::int32_t partition, const PopulationView& population,
             v1::CustomerScores* scores) const;
  // A stub on `member`'s service, its channel made once per (address,
  // instance): with verified peers, the channel's TLS handshake fails unless
  // the certificate names `member.instance`.
  std::shared_ptr<v1::ScoringService::Stub> PeerStub(const ClusterMember& member) const;
  // A call's context for forwarding `context`'s call, made by `caller`: its
  // deadline (the forward timeout at most), marked as forwarded
  // (answered where it lands), with the cluster token and the caller's name
  // and role in place of the caller's credentials, which are never sent on.
  void PrepareForward(const grpc::ServerContextBase& context, const Caller& caller,
                      grpc::ClientContext* forward) const;
  grpc::Status RankLocally(grpc::ServerContext* context,
                           const v1::ListAtRiskCustomersRequest& request,
                           const PartitionOwnership::Snapshot* ownership, bool served_only,
                           v1::ListAtRiskCustomersResponse* response) const;
  // The rankings of the other owners of partitions not in `covered`, asked
  // at once; merged into `response` (`covered` grows by their partitions).
  grpc::Status RankOnPeers(grpc::ServerContext* context, const Caller& caller,
                           const v1::ListAtRiskCustomersRequest& request,
                           std::set<std::int32_t>* covered,
                           v1::ListAtRiskCustomersResponse* response) const;

  StateStore* store_;
  const Board<Scorer>* scorer_;
  const PopulationBoard* population_;
  const Clock* clock_;
  ScoringServiceOptions options_;
  const Clock& wall_clock_;
  const Admission admission_;
  const PeerRouter router_;
  mutable std::mutex peers_mutex_;
  // By (address, instance); guarded by peers_mutex_.
  mutable std::map<std::pair<std::string, std::string>, std::shared_ptr<v1::ScoringService::Stub>>
      peers_;
};

// TLS for the gRPC server: a certificate and key (PEM files), and optionally
// the CA that signs client certificates (mutual TLS: a client may present a
// certificate, which is then verified, and its identity authorises admin RPCs).
struct GrpcTlsOptions {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // empty: no client certificates
};

// How one instance calls another's service: in plaintext without a server
// certificate; else over TLS, presenting this instance's certificate (for
// mutual TLS) and verifying the other's against `peer_ca_file` (empty: the
// system's roots).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> PeerCredentials(
    const GrpcTlsOptions& tls, const std::string& peer_ca_file);

// What one gRPC server accepts of its clients.
struct GrpcServerLimits {
  int max_receive_message_bytes = 1 << 20;  // a request (1000 ids of 256 bytes fit)
  int max_concurrent_streams = 256;         // calls in flight per connection
  int max_metadata_bytes = 16 * 1024;       // a request's headers
  // Keepalive enforcement: a client pinging more often than this (without
  // data) is sent GOAWAY after 2 such pings; idle clients are pinged this
  // often by the server, and dropped when they do not answer in time.
  int min_client_ping_interval_ms = 10'000;
  int keepalive_time_ms = 60'000;
  int keepalive_timeout_ms = 20'000;
};

// The gRPC server: the scoring service, the standard health service and
// server reflection, with the edge interceptor (grpc_status.h) and `limits`.
class GrpcServer {
 public:
  // Listens on `listen` ("HOST:PORT"; port 0 picks one), with TLS when
  // `tls` has a certificate; an unreadable file is InvalidArgument naming it.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const std::string& listen,
                                                           grpc::Service* service,
                                                           const GrpcTlsOptions& tls = {},
                                                           const GrpcServerLimits& limits = {});
  ~GrpcServer();

  int port() const { return port_; }
  // Marks the whole server SERVING or NOT_SERVING in the health service
  // (NOT_SERVING before shutdown).
  void SetServing(bool serving);
  // The health of one named part ("crm.v1.Ingest": whether touchpoints are
  // being read).
  void SetServing(const std::string& service, bool serving);
  // Stops accepting calls and waits for those in flight (at most `deadline_ms`).
  void Shutdown(int deadline_ms);

 private:
  GrpcServer() = default;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace crm
