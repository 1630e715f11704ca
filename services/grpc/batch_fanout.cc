#include "services/grpc/batch_fanout.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "services/grpc/grpc_status.h"
#include "services/grpc/scores_codec.h"

namespace crm {
namespace {

// One BatchGetCustomerScores in flight: the answers of this instance and of
// each owner forwarded to, put back in request order once the last is in.
class BatchJoin {
 public:
  // Each owner's share: its request, answer and call.
  struct Share {
    grpc::ClientContext context;
    v1::BatchGetCustomerScoresRequest request;
    v1::BatchGetCustomerScoresResponse response;
    ClusterMember owner;
  };

  BatchJoin(grpc::ServerUnaryReactor* reactor, const v1::BatchGetCustomerScoresRequest* request,
            v1::BatchGetCustomerScoresResponse* response)
      : reactor_(reactor), request_(request), response_(response) {}

  void Found(const std::string& id, v1::CustomerScores scores) {
    absl::MutexLock lock(&mutex_);
    found_[id] = std::move(scores);
  }
  void NotFound(const std::string& id) {
    absl::MutexLock lock(&mutex_);
    not_found_.insert(id);
  }
  // `share`'s answer: its customers found and not found.
  void Take(Share& share) {
    absl::MutexLock lock(&mutex_);
    for (v1::CustomerScores& scores : *share.response.mutable_scores()) {
      scores.mutable_freshness()->set_forwarded(true);
      found_[scores.customer_id()] = std::move(scores);
    }
    for (const std::string& id : share.response.not_found()) not_found_.insert(id);
  }
  // `shares` more shares will end (each with Done).
  void Expect(int shares) {
    absl::MutexLock lock(&mutex_);
    left_ += shares;
  }
  // The end of one share (this instance's, or a forwarded one's); the last
  // answers the call.
  void Done(const grpc::Status& share_status) {
    grpc::Status status;
    {
      absl::MutexLock lock(&mutex_);
      if (!share_status.ok() && status_.ok()) status_ = share_status;
      if (--left_ > 0) return;
      if (status_.ok()) Answer();
      status = status_;
    }
    reactor_->Finish(status);
  }

  std::vector<std::unique_ptr<Share>> shares;  // filled before any is sent

 private:
  void Answer() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    for (const std::string& id : request_->customer_ids()) {
      if (auto it = found_.find(id); it != found_.end()) {
        *response_->add_scores() = it->second;
      } else {
        response_->add_not_found(id);
      }
    }
  }

  grpc::ServerUnaryReactor* const reactor_;
  const v1::BatchGetCustomerScoresRequest* const request_;
  v1::BatchGetCustomerScoresResponse* const response_;
  absl::Mutex mutex_;
  int left_ ABSL_GUARDED_BY(mutex_) = 1;  // forwarded calls in flight, plus this instance's share
  grpc::Status status_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, v1::CustomerScores> found_ ABSL_GUARDED_BY(mutex_);
  std::set<std::string> not_found_ ABSL_GUARDED_BY(mutex_);
};

// Routes each customer of `request`: scored into `join` when served here,
// added to its owner's share when forwarded, noted when unknown. The first
// other answer (UNAVAILABLE, a store error) is the batch's.
grpc::Status RouteEach(const ScoringParts& parts, bool forwarded,
                       const v1::BatchGetCustomerScoresRequest& request, BatchJoin& join) {
  const Timestamp as_of = parts.AsOf(request.has_as_of(), request.as_of());
  const std::shared_ptr<const Scorer> scorer = parts.scorer->Current();
  const std::shared_ptr<const PopulationView> population = parts.population->Current();
  std::map<std::pair<std::string, std::string>, BatchJoin::Share*> by_owner;  // address, instance
  for (const std::string& raw_id : request.customer_ids()) {
    Route route = parts.router->Locate(*parts.store, raw_id, forwarded);
    if (route.kind == Route::Kind::kForward) {
      BatchJoin::Share*& share = by_owner[{route.owner.address, route.owner.instance}];
      if (share == nullptr) {
        join.shares.push_back(std::make_unique<BatchJoin::Share>());
        share = join.shares.back().get();
        share->owner = route.owner;
        if (request.has_as_of()) *share->request.mutable_as_of() = request.as_of();
      }
      share->request.add_customer_ids(raw_id);
      continue;
    }
    if (route.kind == Route::Kind::kAnswered) {
      if (!absl::IsNotFound(route.status)) return ToGrpc(route.status);
      join.NotFound(raw_id);
      continue;
    }
    v1::CustomerScores scores;
    const Scores scored = scorer->Score(CustomerId(raw_id), *route.state, as_of, population.get());
    ToProto(scored, &scores);
    parts.Stamp(route.partition, *population, &scores);
    parts.Recommend(*route.state, scored, &scores);
    join.Found(raw_id, std::move(scores));
  }
  return grpc::Status::OK;
}

}  // namespace

grpc::ServerUnaryReactor* StartBatchGet(const ScoringParts& parts,
                                        grpc::CallbackServerContext* context, const Caller& caller,
                                        const v1::BatchGetCustomerScoresRequest* request,
                                        v1::BatchGetCustomerScoresResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto join = std::make_shared<BatchJoin>(reactor, request, response);
  if (grpc::Status routed = RouteEach(parts, caller.forwarded, *request, *join); !routed.ok()) {
    reactor->Finish(routed);
    return reactor;
  }
  join->Expect(static_cast<int>(join->shares.size()));
  for (const std::unique_ptr<BatchJoin::Share>& owned_share : join->shares) {
    BatchJoin::Share* share = owned_share.get();
    parts.peers->Prepare(*context, caller, &share->context);
    parts.peers->Stub(share->owner)
        ->async()
        ->BatchGetCustomerScores(&share->context, &share->request, &share->response,
                                 [join, share](const grpc::Status& forwarded_status) {
                                   if (forwarded_status.ok()) join->Take(*share);
                                   join->Done(Prefixed(forwarded_status, share->owner.instance));
                                 });
  }
  join->Done(grpc::Status::OK);
  return reactor;
}

}  // namespace crm
