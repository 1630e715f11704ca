#pragma once

// What ListAtRiskCustomers, ListOfferTargets and GetAlertOutcomes share: the bounds on one
// instance's ranking work, and the merge of every owner's ranking in a
// cluster, each partition ranked exactly once. A ranking's response has
// `partitions`, `instances`, `partial` and `partial_reason`; the caller says
// how its ranked items are ranked locally, moved and ordered.

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "crm/v1/scoring.grpc.pb.h"
#include "services/grpc/admission.h"
#include "services/grpc/grpc_status.h"
#include "services/grpc/requests.h"
#include "services/grpc/scoring_parts.h"

namespace crm {

// The bounds of one instance's ranking: at most options.rank_max_candidates
// candidates scored, for at most options.rank_budget, or four fifths of what
// remains before the caller's deadline when that is nearer (a fifth left to
// answer). Read on the calling thread only.
class RankBounds {
 public:
  RankBounds(const ScoringParts& parts, const grpc::ServerContext& context);

  // Nullopt while within bounds after `scored` candidates; else why the
  // ranking stops (its partial_reason).
  std::optional<std::string> Reached(std::size_t scored) const;

 private:
  const ScoringParts& parts_;
  std::chrono::milliseconds budget_;
  Timestamp until_;
};

// How one ranking RPC is ranked, asked of a peer and merged.
template <typename Request, typename Response>
struct RankingCall {
  // This instance's ranking into the response (its items in rank order),
  // of the partitions it serves per the ownership (may be null) only when
  // the bool is true; names those partitions and this instance.
  std::function<grpc::Status(const PartitionOwnership::Snapshot*, bool, Response*)> local;
  // Starts the same RPC on a peer's stub, calling back when done.
  std::function<void(v1::ScoringService::Stub&, grpc::ClientContext*, const Request*, Response*,
                     std::function<void(grpc::Status)>)>
      ask;
  // Moves a peer's ranked items (first argument) into the response, marked forwarded.
  std::function<void(Response&, Response*)> take;
  // Orders the merged items and keeps the first top_n.
  std::function<void(Response*)> order;
};

namespace cluster_ranking {

// Merges a peer's `answer` into `response` (`covered` grows by its
// partitions): UNAVAILABLE when it failed, or ranked a partition already covered.
template <typename Request, typename Response>
grpc::Status Merge(const RankingCall<Request, Response>& call, const std::string& instance,
                   const grpc::Status& status, Response& answer, std::set<std::int32_t>* covered,
                   Response* response) {
  if (!status.ok()) return Prefixed(status, instance);
  for (std::int32_t p : answer.partitions()) {
    if (!covered->insert(p).second) {
      return {grpc::StatusCode::UNAVAILABLE,
              "partition " + std::to_string(p) +
                  " is ranked by two instances: a rebalance is under way; retry shortly"};
    }
  }
  call.take(answer, response);
  if constexpr (requires { answer.partial(); }) {  // a sum (GetAlertOutcomes) is never partial
    if (answer.partial() && !response->partial()) {
      response->set_partial(true);
      response->set_partial_reason("ranking of " + Quoted(instance) + ": " +
                                   Quoted(answer.partial_reason(), kMaxStatusMessageBytes / 4));
    }
  }
  response->add_instances(instance);
  return grpc::Status::OK;
}

// The rankings of the other owners of partitions not in `covered`, asked at
// once, each with the forward deadline; merged into `response` once the last
// is in (`covered` grows by their partitions).
template <typename Request, typename Response>
grpc::Status RankOnPeers(const ScoringParts& parts, grpc::ServerContext* context,
                         const Caller& caller, const Request& request,
                         const RankingCall<Request, Response>& call,
                         std::set<std::int32_t>* covered, Response* response) {
  struct Ask {
    ClusterMember member;
    grpc::ClientContext context;
    Response answer;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Ask>> asks;
  const std::optional<ClusterSnapshot> cluster = parts.router->Cluster();
  for (const ClusterMember& member : cluster->members) {
    if (member.instance == cluster->self || member.partitions.empty()) continue;
    bool needed = false;
    for (std::int32_t p : member.partitions) needed = needed || !covered->contains(p);
    if (!needed) continue;
    if (!parts.router->policy().Verified(member)) {
      return ToGrpc(parts.router->policy().Unverified(member));
    }
    asks.push_back(std::make_unique<Ask>());
    asks.back()->member = member;
  }
  absl::BlockingCounter left(static_cast<int>(asks.size()));
  for (const std::unique_ptr<Ask>& ask : asks) {
    parts.peers->Prepare(*context, caller, &ask->context);
    Ask* in_flight = ask.get();
    call.ask(*parts.peers->Stub(ask->member), &ask->context, &request, &ask->answer,
             [in_flight, &left](const grpc::Status& status) {
               in_flight->status = status;
               left.DecrementCount();
             });
  }
  left.Wait();  // every call ends by its deadline (the forward timeout at most)
  for (const std::unique_ptr<Ask>& ask : asks) {
    if (grpc::Status merged =
            Merge(call, ask->member.instance, ask->status, ask->answer, covered, response);
        !merged.ok()) {
      return merged;
    }
  }
  return grpc::Status::OK;
}

// UNAVAILABLE naming the partitions of `count` not in `covered`, if any.
grpc::Status CheckCovered(std::int32_t count, const std::set<std::int32_t>& covered);

}  // namespace cluster_ranking

// Names in `response` what this instance's local answer covers: the
// partitions it serves per `ownership` (none when null) and, in a cluster,
// this instance.
template <typename Response>
void NameLocalAnswer(const ScoringParts& parts, const PartitionOwnership::Snapshot* ownership,
                     Response* response) {
  if (ownership != nullptr) {
    for (std::int32_t p = 0; p < ownership->count; ++p) {
      if (ownership->Serves(p)) response->add_partitions(p);
    }
  }
  if (parts.options->cluster != nullptr) response->add_instances(parts.options->cluster->self());
}

// A ranking RPC answered: asked by another instance (`caller.forwarded`),
// this instance's served partitions only, which the answer names. Alone or
// before any assignment: this instance's ranking, UNAVAILABLE unless it
// covers every partition. In a cluster: every other owner asked at once,
// the answers merged; UNAVAILABLE when a partition is ranked by no one or by
// two. Blocks the calling thread until the last peer answers (by its deadline).
template <typename Request, typename Response>
grpc::Status RankInCluster(const ScoringParts& parts, grpc::ServerContext* context,
                           const Caller& caller, const Request& request,
                           const RankingCall<Request, Response>& call, Response* response) {
  // One view of the ownership for the whole ranking: the partitions it
  // filters by are the ones it names.
  const std::shared_ptr<const PartitionOwnership::Snapshot> ownership = parts.router->Ownership();
  const PartitionOwnership::Snapshot* owned = ownership.get();
  if (caller.forwarded) return call.local(owned, true, response);
  // Alone, or before any assignment (every local state taken as this
  // instance's own): this instance's ranking, if it covers everything.
  if (parts.options->cluster == nullptr || owned == nullptr || !owned->owned) {
    if (owned != nullptr) {
      if (absl::Status answer = owned->CheckAll(); !answer.ok()) return ToGrpc(answer);
    }
    return call.local(owned, false, response);
  }
  if (grpc::Status local = call.local(owned, true, response); !local.ok()) return local;
  const std::int32_t count = owned->count;
  std::set<std::int32_t> covered(response->partitions().begin(), response->partitions().end());
  if (grpc::Status peers =
          cluster_ranking::RankOnPeers(parts, context, caller, request, call, &covered, response);
      !peers.ok()) {
    return peers;
  }
  if (grpc::Status all = cluster_ranking::CheckCovered(count, covered); !all.ok()) return all;
  call.order(response);
  response->clear_partitions();
  for (std::int32_t p = 0; p < count; ++p) response->add_partitions(p);
  return grpc::Status::OK;
}

}  // namespace crm
