#include "services/grpc/scoring_service.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <future>
#include <sstream>

#include "services/codec/alert_codec.h"
#include "services/codec/touchpoint_codec.h"
#include "services/grpc/alert_watch.h"
#include "services/grpc/grpc_status.h"
#include "services/grpc/scores_codec.h"

namespace crm {
namespace {

// gRPC deadlines are system_clock time points; "now" comes from the one clock file.
std::chrono::system_clock::time_point SystemDeadline(int from_now_ms) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          (WallClock().Now() + std::chrono::milliseconds(from_now_ms)).time_since_epoch()));
}

// REQUIRES: `as_of` passed ValidateAsOf (its conversion cannot overflow).
Timestamp AsOf(const Clock& clock, bool has_as_of, const google::protobuf::Timestamp& as_of) {
  return has_as_of ? FromProtoTime(as_of) : clock.Now();
}

// `text` as a metadata value: printable ASCII (others become '?'), cut.
std::string MetadataValue(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 256)) out += (c >= 0x20 && c < 0x7F) ? c : '?';
  return out;
}

// A peer's answer, said to come from `instance` (a name read from the
// cluster topic: quoted, cut), its message bounded. A TLS handshake that
// failed on the certificate's name (gRPC's "Peer name ... is not in peer
// certificate") says so plainly: nothing reached the peer.
grpc::Status Prefixed(const grpc::Status& status, const std::string& instance) {
  if (status.ok()) return status;
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

}  // namespace

void ScoringServiceImpl::Stamp(std::int32_t partition, const PopulationView& population,
                               v1::CustomerScores* scores) const {
  v1::Freshness* freshness = scores->mutable_freshness();
  if (options_.cluster != nullptr) freshness->set_served_by(options_.cluster->self());
  freshness->set_partition(partition);
  freshness->set_population_partitions(population.partitions());
  if (options_.restoring == nullptr) {
    freshness->set_lag(-1);
    return;
  }
  const PartitionOwnership::Progress progress = options_.restoring->ProgressOf(partition);
  freshness->set_lag(progress.lag);
  if (progress.committed_at) {
    const std::int64_t us = ToMicros(*progress.committed_at);
    freshness->mutable_updated_at()->set_seconds(us / 1'000'000);
    freshness->mutable_updated_at()->set_nanos(static_cast<std::int32_t>(us % 1'000'000) * 1000);
  }
  freshness->set_partition_count(options_.restoring->Owned().second);
}

std::shared_ptr<v1::ScoringService::Stub> ScoringServiceImpl::PeerStub(
    const ClusterMember& member) const {
  std::lock_guard<std::mutex> lock(peers_mutex_);
  // Bounded: members come and go (and records naming peers are only hints);
  // past the bound the channels are made again as they are needed.
  constexpr std::size_t kMaxPeerChannels = 256;
  if (peers_.size() >= kMaxPeerChannels && !peers_.contains({member.address, member.instance})) {
    peers_.clear();
  }
  std::shared_ptr<v1::ScoringService::Stub>& stub = peers_[{member.address, member.instance}];
  if (!stub) {
    grpc::ChannelArguments args;
    // gRPC checks the certificate against this name instead of the
    // address's host: the peer must prove it is the instance it claims.
    // REQUIRES (PeerVerified): the name is a CertificateName.
    if (options_.peers_verified) args.SetSslTargetNameOverride(member.instance);
    stub = v1::ScoringService::NewStub(grpc::CreateCustomChannel(
        member.address,
        options_.peer_credentials ? options_.peer_credentials : grpc::InsecureChannelCredentials(),
        args));
  }
  return stub;
}

void ScoringServiceImpl::PrepareForward(const grpc::ServerContextBase& context,
                                        const Caller& caller, grpc::ClientContext* forward) const {
  forward->set_deadline(std::min(SystemDeadline(static_cast<int>(options_.forward_timeout.count())),
                                 context.deadline()));
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

grpc::ServerUnaryReactor* ScoringServiceImpl::GetCustomerScores(
    grpc::CallbackServerContext* context, const v1::GetCustomerScoresRequest* request,
    v1::CustomerScores* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Caller caller;
  if (grpc::Status admitted = admission_.Admit(*context, *request, &caller); !admitted.ok()) {
    reactor->Finish(admitted);
    return reactor;
  }
  Route route = router_.Locate(*store_, request->customer_id(), caller.forwarded);
  if (route.kind == Route::Kind::kForward) {
    auto forward = std::make_shared<grpc::ClientContext>();
    PrepareForward(*context, caller, forward.get());
    PeerStub(route.owner)
        ->async()
        ->GetCustomerScores(
            forward.get(), request, response,
            [reactor, response, forward, owner = route.owner](const grpc::Status& status) {
              if (status.ok()) response->mutable_freshness()->set_forwarded(true);
              reactor->Finish(Prefixed(status, owner.instance));
            });
    return reactor;
  }
  if (route.kind == Route::Kind::kAnswered) {
    reactor->Finish(ToGrpc(route.status));
    return reactor;
  }
  const Timestamp as_of = AsOf(*clock_, request->has_as_of(), request->as_of());
  const std::shared_ptr<const PopulationView> population = population_->Current();
  ToProto(scorer_->Current()->Score(CustomerId(request->customer_id()), *route.state, as_of,
                                    population.get()),
          response);
  Stamp(route.partition, *population, response);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

namespace {

// One BatchGetCustomerScores in flight: the answers of this instance and of
// each owner forwarded to, put back in request order once the last is in.
struct BatchJoin {
  std::mutex mutex;
  int left = 1;  // forwarded calls in flight, plus this instance's share
  grpc::Status status;
  std::map<std::string, v1::CustomerScores> found;
  std::set<std::string> not_found;
  grpc::ServerUnaryReactor* reactor = nullptr;
  const v1::BatchGetCustomerScoresRequest* request = nullptr;
  v1::BatchGetCustomerScoresResponse* response = nullptr;
  // Each owner's share: its request, answer and call.
  struct Share {
    grpc::ClientContext context;
    v1::BatchGetCustomerScoresRequest request;
    v1::BatchGetCustomerScoresResponse response;
    ClusterMember owner;
  };
  std::vector<std::unique_ptr<Share>> shares;

  // The end of one share (this instance's, or a forwarded one's).
  void Done(const grpc::Status& share_status) {
    std::unique_lock<std::mutex> lock(mutex);
    if (!share_status.ok() && status.ok()) status = share_status;
    if (--left > 0) return;
    lock.unlock();
    if (status.ok()) {
      for (const std::string& id : request->customer_ids()) {
        if (auto it = found.find(id); it != found.end()) {
          *response->add_scores() = it->second;
        } else {
          response->add_not_found(id);
        }
      }
    }
    reactor->Finish(status);
  }
};

}  // namespace

grpc::ServerUnaryReactor* ScoringServiceImpl::BatchGetCustomerScores(
    grpc::CallbackServerContext* context, const v1::BatchGetCustomerScoresRequest* request,
    v1::BatchGetCustomerScoresResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Caller caller;
  if (grpc::Status admitted = admission_.Admit(*context, *request, &caller); !admitted.ok()) {
    reactor->Finish(admitted);
    return reactor;
  }
  const bool forwarded = caller.forwarded;
  const Timestamp as_of = AsOf(*clock_, request->has_as_of(), request->as_of());
  const std::shared_ptr<const Scorer> scorer = scorer_->Current();
  const std::shared_ptr<const PopulationView> population = population_->Current();
  auto join = std::make_shared<BatchJoin>();
  join->reactor = reactor;
  join->request = request;
  join->response = response;
  std::map<std::pair<std::string, std::string>, BatchJoin::Share*> by_owner;  // address, instance
  grpc::Status status;
  for (const std::string& raw_id : request->customer_ids()) {
    Route route = router_.Locate(*store_, raw_id, forwarded);
    if (route.kind == Route::Kind::kForward) {
      BatchJoin::Share*& share = by_owner[{route.owner.address, route.owner.instance}];
      if (share == nullptr) {
        join->shares.push_back(std::make_unique<BatchJoin::Share>());
        share = join->shares.back().get();
        share->owner = route.owner;
        if (request->has_as_of()) *share->request.mutable_as_of() = request->as_of();
      }
      share->request.add_customer_ids(raw_id);
      continue;
    }
    if (route.kind == Route::Kind::kAnswered) {
      if (absl::IsNotFound(route.status)) {
        join->not_found.insert(raw_id);
        continue;
      }
      status = ToGrpc(route.status);
      break;
    }
    v1::CustomerScores& scores = join->found[raw_id];
    ToProto(scorer->Score(CustomerId(raw_id), *route.state, as_of, population.get()), &scores);
    Stamp(route.partition, *population, &scores);
  }
  if (!status.ok()) {
    reactor->Finish(status);
    return reactor;
  }
  join->left += static_cast<int>(join->shares.size());
  for (const auto& [owner, share] : by_owner) {
    PrepareForward(*context, caller, &share->context);
    PeerStub(share->owner)
        ->async()
        ->BatchGetCustomerScores(
            &share->context, &share->request, &share->response,
            [join, share = share](const grpc::Status& forwarded_status) {
              if (forwarded_status.ok()) {
                std::lock_guard<std::mutex> lock(join->mutex);
                for (v1::CustomerScores& scores : *share->response.mutable_scores()) {
                  scores.mutable_freshness()->set_forwarded(true);
                  join->found[scores.customer_id()] = std::move(scores);
                }
                for (const std::string& id : share->response.not_found())
                  join->not_found.insert(id);
              }
              join->Done(Prefixed(forwarded_status, share->owner.instance));
            });
  }
  join->Done(grpc::Status::OK);
  return reactor;
}

grpc::Status ScoringServiceImpl::RankLocally(grpc::ServerContext* context,
                                             const v1::ListAtRiskCustomersRequest& request,
                                             const PartitionOwnership::Snapshot* ownership,
                                             bool served_only,
                                             v1::ListAtRiskCustomersResponse* response) const {
  constexpr std::uint32_t kDefaultTop = 100;
  constexpr std::size_t kPage = 256;
  const std::size_t top = request.top_n() == 0 ? kDefaultTop : request.top_n();
  const Timestamp now = clock_->Now();
  const std::shared_ptr<const Scorer> scorer = scorer_->Current();
  const std::shared_ptr<const PopulationView> population = population_->Current();
  // The best so far, highest churn first (ties by id, as the index orders them).
  std::vector<std::pair<Scores, std::int32_t>> best;
  const auto ranks_before = [](const std::pair<Scores, std::int32_t>& a,
                               const std::pair<Scores, std::int32_t>& b) {
    return a.first.churn != b.first.churn ? a.first.churn > b.first.churn
                                          : a.first.customer_id < b.first.customer_id;
  };
  // The bounds of this call's work: candidates scored, and time (within
  // the caller's deadline, leaving a fifth of what remains to answer).
  const auto remaining = context->deadline() - SystemDeadline(0);
  const auto budget = remaining < options_.rank_budget * 5 / 4
                          ? std::chrono::duration_cast<std::chrono::milliseconds>(remaining) * 4 / 5
                          : std::chrono::milliseconds(options_.rank_budget);
  const auto until = std::chrono::steady_clock::now() + budget;
  std::size_t scored = 0;
  std::optional<RiskEntry> after;
  for (bool more = true; more;) {
    if (context->IsCancelled()) return {grpc::StatusCode::CANCELLED, "cancelled"};
    auto page = store_->Riskiest(after, kPage);
    if (!page.ok()) return ToGrpc(page.status());
    more = page->size() == kPage;
    for (const RiskEntry& entry : *page) {
      if (scored >= options_.rank_max_candidates || std::chrono::steady_clock::now() >= until) {
        response->set_partial(true);
        response->set_partial_reason(
            scored >= options_.rank_max_candidates
                ? "stopped after " + std::to_string(scored) + " candidates scored"
                : "stopped after " + std::to_string(budget.count()) + " ms (" +
                      std::to_string(scored) + " candidates scored)");
        more = false;
        break;
      }
      // Nobody below this entry can be more at risk now than the last of the
      // best: a customer's current churn is within the precision of their
      // last look's, which is within half of it of their indexed churn.
      if (best.size() == top &&
          entry.churn + 1.5 * options_.risk_precision < best.back().first.churn) {
        more = false;
        break;
      }
      // Another owner's now: it ranks them.
      if (served_only && ownership != nullptr && !ownership->Serves(entry.partition)) continue;
      auto state = store_->Get(entry.partition, entry.customer);
      if (!state.ok()) return ToGrpc(state.status());
      if (!*state) continue;  // erased since
      Scores scores = scorer->Score(entry.customer, **state, now, population.get());
      ++scored;
      if (!request.segment().empty() && scores.segment != request.segment()) continue;
      std::pair<Scores, std::int32_t> ranked(std::move(scores), entry.partition);
      const auto at = std::upper_bound(best.begin(), best.end(), ranked, ranks_before);
      best.insert(at, std::move(ranked));
      if (best.size() > top) best.pop_back();
    }
    if (!page->empty()) after = page->back();
  }
  for (const auto& [scores, partition] : best) {
    v1::CustomerScores* out = response->add_customers();
    ToProto(scores, out);
    Stamp(partition, *population, out);
  }
  if (ownership != nullptr) {
    for (std::int32_t p = 0; p < ownership->count; ++p) {
      if (ownership->Serves(p)) response->add_partitions(p);
    }
  }
  if (options_.cluster != nullptr) response->add_instances(options_.cluster->self());
  return grpc::Status::OK;
}

grpc::Status ScoringServiceImpl::ListAtRiskCustomers(grpc::ServerContext* context,
                                                     const v1::ListAtRiskCustomersRequest* request,
                                                     v1::ListAtRiskCustomersResponse* response) {
  Caller caller;
  if (grpc::Status admitted = admission_.Admit(*context, *request, &caller); !admitted.ok()) {
    return admitted;
  }
  // One view of the ownership for the whole ranking: the partitions it
  // filters by are the ones it names.
  const std::optional<PartitionOwnership::Snapshot> ownership = router_.Ownership();
  const PartitionOwnership::Snapshot* owned = ownership ? &*ownership : nullptr;
  // Asked by another instance: this one's partitions only, which it names.
  if (caller.forwarded) return RankLocally(context, *request, owned, true, response);
  // Alone, or before any assignment (every local state taken as this
  // instance's own): this instance's ranking, if it covers everything.
  if (options_.cluster == nullptr || owned == nullptr || !owned->owned) {
    if (owned != nullptr) {
      if (absl::Status answer = owned->CheckAll(); !answer.ok()) return ToGrpc(answer);
    }
    return RankLocally(context, *request, owned, false, response);
  }
  // Every owner's ranking, merged: each partition ranked exactly once.
  if (grpc::Status local = RankLocally(context, *request, owned, true, response); !local.ok()) {
    return local;
  }
  const std::int32_t count = owned->count;
  std::set<std::int32_t> covered(response->partitions().begin(), response->partitions().end());
  if (grpc::Status peers = RankOnPeers(context, caller, *request, &covered, response);
      !peers.ok()) {
    return peers;
  }
  std::string missing;
  for (std::int32_t p = 0; p < count; ++p) {
    if (!covered.contains(p)) missing += (missing.empty() ? "" : ", ") + std::to_string(p);
  }
  if (count == 0 || !missing.empty()) {
    return BoundedStatus(
        {grpc::StatusCode::UNAVAILABLE,
         count == 0 ? std::string("no partition assigned yet; retry shortly")
                    : "no instance ranks partitions " + missing +
                          " now (being restored, or a rebalance is under way); retry shortly"});
  }
  auto& customers = *response->mutable_customers();
  std::sort(customers.begin(), customers.end(),
            [](const v1::CustomerScores& a, const v1::CustomerScores& b) {
              return a.churn() != b.churn() ? a.churn() > b.churn()
                                            : a.customer_id() < b.customer_id();
            });
  const int top = static_cast<int>(request->top_n() == 0 ? 100 : request->top_n());
  while (customers.size() > top) customers.RemoveLast();
  response->clear_partitions();
  for (std::int32_t p = 0; p < count; ++p) response->add_partitions(p);
  return grpc::Status::OK;
}

grpc::Status ScoringServiceImpl::RankOnPeers(grpc::ServerContext* context, const Caller& caller,
                                             const v1::ListAtRiskCustomersRequest& request,
                                             std::set<std::int32_t>* covered,
                                             v1::ListAtRiskCustomersResponse* response) const {
  // One call per other owner, all in flight at once, each with the forward
  // deadline; the answers are merged once the last is in.
  struct Ask {
    ClusterMember member;
    grpc::ClientContext context;
    v1::ListAtRiskCustomersResponse answer;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Ask>> asks;
  const ClusterSnapshot cluster = ClusterSnapshot::Of(*options_.cluster, wall_clock_.Now());
  for (const ClusterMember& member : cluster.members) {
    if (member.instance == cluster.self || member.partitions.empty()) continue;
    bool needed = false;
    for (std::int32_t p : member.partitions) needed = needed || !covered->contains(p);
    if (!needed) continue;
    if (!router_.policy().Verified(member)) return ToGrpc(router_.policy().Unverified(member));
    asks.push_back(std::make_unique<Ask>());
    asks.back()->member = member;
  }
  std::mutex mutex;
  std::condition_variable answered;
  std::size_t left = asks.size();
  for (const std::unique_ptr<Ask>& ask : asks) {
    PrepareForward(*context, caller, &ask->context);
    Ask* in_flight = ask.get();
    PeerStub(ask->member)
        ->async()
        ->ListAtRiskCustomers(&ask->context, &request, &ask->answer,
                              [in_flight, &mutex, &answered, &left](grpc::Status status) {
                                std::lock_guard<std::mutex> lock(mutex);
                                in_flight->status = std::move(status);
                                if (--left == 0) answered.notify_all();
                              });
  }
  {
    // Every call ends by its deadline (the forward timeout at most).
    std::unique_lock<std::mutex> lock(mutex);
    answered.wait(lock, [&left] { return left == 0; });
  }
  for (const std::unique_ptr<Ask>& ask : asks) {
    if (!ask->status.ok()) return Prefixed(ask->status, ask->member.instance);
    for (std::int32_t p : ask->answer.partitions()) {
      if (!covered->insert(p).second) {
        return {grpc::StatusCode::UNAVAILABLE,
                "partition " + std::to_string(p) +
                    " is ranked by two instances: a rebalance is under way; retry shortly"};
      }
    }
    for (v1::CustomerScores& scores : *ask->answer.mutable_customers()) {
      scores.mutable_freshness()->set_forwarded(true);
      *response->add_customers() = std::move(scores);
    }
    if (ask->answer.partial() && !response->partial()) {
      response->set_partial(true);
      response->set_partial_reason(
          "ranking of " + Quoted(ask->member.instance) + ": " +
          Quoted(ask->answer.partial_reason(), kMaxStatusMessageBytes / 4));
    }
    response->add_instances(ask->member.instance);
  }
  return grpc::Status::OK;
}

grpc::ServerWriteReactor<v1::ChurnAlert>* ScoringServiceImpl::WatchAlerts(
    grpc::CallbackServerContext* context, const v1::WatchAlertsRequest* request) {
  Caller caller;
  if (grpc::Status admitted = admission_.Admit(*context, *request, &caller); !admitted.ok()) {
    return RefuseAlertWatch(admitted);
  }
  if (options_.alerts == nullptr) {
    return RefuseAlertWatch({grpc::StatusCode::UNIMPLEMENTED, "alerts are not enabled"});
  }
  return StartAlertWatch(
      options_.alerts, [segment = request->segment(), min_churn = request->min_churn(),
                        action = request->action()](const AlertEvent& alert) {
        return (segment.empty() || alert.segment == segment) && alert.churn >= min_churn &&
               (action.empty() || alert.action == action);
      });
}

grpc::Status ScoringServiceImpl::GetCustomerState(grpc::ServerContext* context,
                                                  const v1::GetCustomerStateRequest* request,
                                                  v1::CustomerState* response) {
  Caller caller;
  if (grpc::Status admitted = admission_.Admit(*context, *request, &caller); !admitted.ok()) {
    return admitted;
  }
  Route route = router_.Locate(*store_, request->customer_id(), caller.forwarded);
  if (route.kind == Route::Kind::kForward) {
    grpc::ClientContext forward;
    PrepareForward(*context, caller, &forward);
    return Prefixed(PeerStub(route.owner)->GetCustomerState(&forward, *request, response),
                    route.owner.instance);
  }
  if (route.kind == Route::Kind::kAnswered) return ToGrpc(route.status);
  ToProto(CustomerId(request->customer_id()), *route.state, response);
  return grpc::Status::OK;
}

grpc::Status ScoringServiceImpl::EraseCustomer(grpc::ServerContext* context,
                                               const v1::EraseCustomerRequest* request,
                                               v1::EraseCustomerResponse* response) {
  Caller caller;
  if (grpc::Status admitted = admission_.Admit(*context, *request, &caller); !admitted.ok()) {
    return admitted;
  }
  if (options_.erasures == nullptr) {
    return {grpc::StatusCode::UNIMPLEMENTED, "erasure is not enabled"};
  }
  // Routed like a lookup: the owner of the customer's partition erases them.
  Route route = router_.Locate(*store_, request->customer_id(), caller.forwarded);
  if (route.kind == Route::Kind::kForward) {
    grpc::ClientContext forward;
    PrepareForward(*context, caller, &forward);
    forward.set_deadline(
        std::min(SystemDeadline(static_cast<int>(options_.erase_timeout.count()) + 1000),
                 context->deadline()));
    return Prefixed(PeerStub(route.owner)->EraseCustomer(&forward, *request, response),
                    route.owner.instance);
  }
  // Unknown here on a partition served here: the consumer thread says
  // whether there is anything to erase. Any other answer (UNAVAILABLE: no
  // owner now, or being restored) stands.
  if (route.kind == Route::Kind::kAnswered && !absl::IsNotFound(route.status)) {
    return ToGrpc(route.status);
  }
  std::future<absl::StatusOr<bool>> done =
      options_.erasures->Submit({CustomerId(request->customer_id()), caller.name,
                                 options_.wall_clock->Now(), route.partition});
  if (done.wait_for(options_.erase_timeout) != std::future_status::ready) {
    return {grpc::StatusCode::UNAVAILABLE,
            "the erasure was not carried out in time (is ingestion running?); retrying is safe"};
  }
  absl::StatusOr<bool> erased = done.get();
  if (!erased.ok()) return ToGrpc(erased.status());
  response->set_erased(*erased);
  return grpc::Status::OK;
}

namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream in(path);
  std::ostringstream text;
  if (!(in && text << in.rdbuf())) {
    return absl::InvalidArgumentError(std::string("cannot read the ") + what + " " + path);
  }
  return text.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const GrpcTlsOptions& tls) {
  if (tls.cert_file.empty()) return grpc::InsecureServerCredentials();
  auto cert = ReadPem(tls.cert_file, "TLS certificate");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(tls.key_file, "TLS key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!tls.client_ca_file.empty()) {
    auto ca = ReadPem(tls.client_ca_file, "client CA");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> PeerCredentials(
    const GrpcTlsOptions& tls, const std::string& peer_ca_file) {
  if (tls.cert_file.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  auto cert = ReadPem(tls.cert_file, "TLS certificate");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(tls.key_file, "TLS key");
  if (!key.ok()) return key.status();
  ssl.pem_cert_chain = *cert;
  ssl.pem_private_key = *key;
  if (!peer_ca_file.empty()) {
    auto ca = ReadPem(peer_ca_file, "peer CA");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
  }
  return grpc::SslCredentials(ssl);
}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const std::string& listen,
                                                              grpc::Service* service,
                                                              const GrpcTlsOptions& tls,
                                                              const GrpcServerLimits& limits) {
  auto credentials = Credentials(tls);
  if (!credentials.ok()) return credentials.status();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  std::unique_ptr<GrpcServer> server(new GrpcServer());
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, *credentials, &server->port_);
  builder.RegisterService(service);
  builder.SetMaxReceiveMessageSize(limits.max_receive_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams);
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, limits.max_metadata_bytes);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             limits.min_client_ping_interval_ms);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, limits.keepalive_time_ms);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, limits.keepalive_timeout_ms);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(EdgeInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0) {
    return absl::UnavailableError("cannot listen for gRPC on " + listen);
  }
  return server;
}

GrpcServer::~GrpcServer() {
  if (server_) server_->Shutdown(SystemDeadline(0));
}

void GrpcServer::SetServing(bool serving) {
  if (auto* health = server_->GetHealthCheckService()) health->SetServingStatus(serving);
}

void GrpcServer::SetServing(const std::string& service, bool serving) {
  if (auto* health = server_->GetHealthCheckService()) health->SetServingStatus(service, serving);
}

void GrpcServer::Shutdown(int deadline_ms) { server_->Shutdown(SystemDeadline(deadline_ms)); }

}  // namespace crm
