#pragma once

// The HTTP/JSON API: each route a call of the scoring service, made through
// a gRPC channel to this very process (grpc::Server::InProcessChannel), so
// that an HTTP call is routed to the owning instance, authorised and
// validated exactly as a gRPC one is. Bodies are the protobuf JSON mapping of
// the same messages; an error is {"code": "<gRPC code name>", "message": …}
// with the matching HTTP status.

#include <grpcpp/channel.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "crm/v1/scoring.grpc.pb.h"

namespace crm {

// A query string's parameters in order, names and values percent-decoded.
using QueryParameters = std::vector<std::pair<std::string, std::string>>;

// One HTTP request, as the server read it, its path percent-decoded.
struct HttpRequest {
  std::string_view method;
  std::string_view path;
  QueryParameters parameters;
  std::string_view authorization;  // the Authorization header; empty: none
  std::string body;
};

// A whole answer: status, content type, body and extra headers.
struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// The HTTP status of each gRPC code (as grpc-gateway and Google's APIs map
// them: NOT_FOUND 404, UNAUTHENTICATED 401, UNAVAILABLE 503…).
int HttpStatusOf(grpc::StatusCode code);
// "NOT_FOUND", "INVALID_ARGUMENT"…: gRPC's names of the codes.
std::string CodeName(grpc::StatusCode code);
// The error body and status of `status` (its message bounded and printable).
HttpResponse ErrorResponse(const grpc::Status& status);

// Where an alert stream writes its events. Send returns false once the
// client is gone.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // Starts the stream (status 200, text/event-stream); false: client gone.
  virtual bool Open() = 0;
  // One event or comment, written whole.
  virtual bool Send(std::string_view text) = 0;
};

struct JsonApiOptions {
  // How long a unary call may take before it is DEADLINE_EXCEEDED.
  std::chrono::milliseconds deadline = std::chrono::seconds(30);
  // The most bytes of a request body (a batch of 1000 ids of 256 bytes fits).
  std::size_t max_body_bytes = 1 << 20;
  // How often an idle alert stream sends a comment, so that a client that
  // left is noticed (and its stream ended) even when no alert comes.
  std::chrono::milliseconds keepalive = std::chrono::seconds(15);
  // The lookup answered in the process without a gRPC call (the scoring
  // service's GetCustomerScoresHere: same admission and answer), given the
  // Authorization header's value; nullopt from it, or no function: the call
  // goes through the channel. Lookups are the hot path: the hop through
  // gRPC was half their cost.
  std::function<std::optional<grpc::Status>(std::string_view authorization,
                                            const v1::GetCustomerScoresRequest& request,
                                            v1::CustomerScores* response)>
      local_scores;
};

// The routes of the API. Thread-safe.
class JsonApi {
 public:
  JsonApi(const std::shared_ptr<grpc::Channel>& channel, JsonApiOptions options);
  ~JsonApi();

  // Whether `request` asks for the alert stream (answered by Watch).
  static bool IsWatch(const HttpRequest& request);

  // The answer to every other route under /v1/: NOT_FOUND for a path the
  // API does not know, UNIMPLEMENTED (405) for a known path with another
  // method, else the call's answer or error.
  HttpResponse Serve(const HttpRequest& request);

  // Streams the alerts `request` asks for to `sink` until the client leaves,
  // the service ends the stream, or Shutdown; an error before the stream
  // opened is returned as an error response, else the response is empty.
  std::optional<HttpResponse> Watch(const HttpRequest& request, EventSink& sink);

  // Ends every alert stream in flight and refuses new ones.
  void Shutdown();

  // The most bytes of a request body Serve takes.
  std::size_t max_body_bytes() const { return options_.max_body_bytes; }

 private:
  class Streams;
  // GET /v1/offers/{product}/targets (`product` as the path has it).
  HttpResponse ServeOffers(const HttpRequest& request, std::string_view product);
  HttpResponse ServeOutcomes(const HttpRequest& request);
  std::unique_ptr<v1::ScoringService::Stub> stub_;
  JsonApiOptions options_;
  std::unique_ptr<Streams> streams_;
};

}  // namespace crm
