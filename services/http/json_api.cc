#include "services/http/json_api.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/client_context.h>

#include <charconv>
#include <cmath>
#include <set>
#include <thread>

#include "absl/status/status.h"
#include "core/bounded_text.h"
#include "services/common/defaults.h"
#include "services/http/json_writer.h"

namespace crm {
namespace {

using google::protobuf::util::JsonParseOptions;

constexpr std::string_view kCustomers = "/v1/customers/";
constexpr std::string_view kScoresSuffix = "/scores";
constexpr std::string_view kStateSuffix = "/state";
constexpr std::string_view kBatchPath = "/v1/customers:batchGetScores";
constexpr std::string_view kAtRiskPath = "/v1/at-risk";
constexpr std::string_view kWatchPath = "/v1/alerts:watch";
constexpr std::string_view kOffers = "/v1/offers/";  // + product + kTargetsSuffix
constexpr std::string_view kTargetsSuffix = "/targets";
constexpr std::string_view kOutcomesPath = "/v1/alerts/outcomes";
// What of a request is echoed in an error: a path or a parameter's value.
constexpr std::size_t kMaxEchoBytes = 128;
// The longest Authorization header passed on (a token file's tokens are far shorter).
constexpr std::size_t kMaxAuthorizationBytes = 4096;

grpc::Status Invalid(const std::string& message) {
  return {grpc::StatusCode::INVALID_ARGUMENT, message};
}

// `text` in quotes, bounded and printable.
std::string Echo(std::string_view text) { return "'" + BoundedText(text, kMaxEchoBytes) + "'"; }

HttpResponse JsonResponse(const google::protobuf::Message& message) {
  return {.status = 200, .body = ToJson(message)};
}

// The query's parameters, each named in `allowed`; any other is an error
// (a misspelt filter must not silently match everything).
grpc::Status CheckParameters(const QueryParameters& query,
                             std::initializer_list<std::string_view> allowed) {
  for (const auto& [name, value] : query) {
    if (!name.empty() && std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return Invalid("unknown query parameter " + Echo(name));
    }
  }
  return grpc::Status::OK;
}

// The value of the first parameter `name` of `query`; nullopt when absent.
std::optional<std::string> Parameter(const QueryParameters& query, std::string_view name) {
  for (const auto& [key, value] : query) {
    if (key == name) return value;
  }
  return std::nullopt;
}

// The caller's Authorization header as the call's metadata.
grpc::Status Authorise(const HttpRequest& request, grpc::ClientContext& context) {
  if (request.authorization.empty()) return grpc::Status::OK;
  if (request.authorization.size() > kMaxAuthorizationBytes ||
      !std::all_of(request.authorization.begin(), request.authorization.end(),
                   [](char c) { return c >= 0x20 && c < 0x7f; })) {
    return {grpc::StatusCode::UNAUTHENTICATED, "malformed Authorization header"};
  }
  context.AddMetadata("authorization", std::string(request.authorization));
  return grpc::Status::OK;
}

// The customer id of a path, checked as the gRPC edge checks it, before it
// goes into a message (protobuf refuses a string that is not UTF-8).
grpc::Status CheckId(std::string_view id) {
  if (!IsUtf8(id)) return Invalid("customer_id is not UTF-8");
  return grpc::Status::OK;
}

grpc::Status ParseBool(std::string_view name, const std::optional<std::string>& text, bool* out) {
  if (!text) return grpc::Status::OK;
  if (*text == "true" || *text == "1") {
    *out = true;
  } else if (*text == "false" || *text == "0" || text->empty()) {
    *out = false;
  } else {
    return Invalid(std::string(name) + " must be true or false, not " + Echo(*text));
  }
  return grpc::Status::OK;
}

grpc::Status ParseTopN(const std::optional<std::string>& text, std::uint32_t* out) {
  if (!text || text->empty()) return grpc::Status::OK;
  std::uint32_t value = 0;
  const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (error != std::errc() || end != text->data() + text->size()) {
    return Invalid("top_n must be a whole number, not " + Echo(*text));
  }
  *out = value;
  return grpc::Status::OK;
}

grpc::Status ParseTimestamp(std::string_view name, const std::optional<std::string>& text,
                            google::protobuf::Timestamp* out) {
  if (!google::protobuf::util::TimeUtil::FromString(*text, out)) {
    return Invalid(std::string(name) +
                   " must be an RFC 3339 time such as 2026-12-03T10:00:00Z, not " + (Echo(*text)));
  }
  return grpc::Status::OK;
}

// A string query parameter, UTF-8 (it goes into a message).
grpc::Status ParseText(std::string_view name, const std::optional<std::string>& text,
                       std::string* out) {
  if (!text) return grpc::Status::OK;
  if (!IsUtf8(*text)) return Invalid(std::string(name) + " is not UTF-8");
  *out = *text;
  return grpc::Status::OK;
}

}  // namespace

int HttpStatusOf(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::CANCELLED:
      return 499;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::DATA_LOSS:
    default:
      return 500;
  }
}

std::string CodeName(grpc::StatusCode code) {
  // absl's codes are gRPC's, number for number, and so are their names.
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

HttpResponse ErrorResponse(const grpc::Status& status) {
  std::string body = R"({"code":")" + CodeName(status.error_code()) + R"(","message":)";
  AppendJsonString(BoundedText(status.error_message(), 1024), body);
  body += '}';
  HttpResponse response{.status = HttpStatusOf(status.error_code()), .body = body};
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
  }
  return response;
}

// The alert streams in flight: each one's context (cancelled by Shutdown)
// and sink, written by its own thread and by the keepalive thread, one
// writer at a time.
class JsonApi::Streams {
 public:
  explicit Streams(std::chrono::milliseconds keepalive)
      : keepalive_(keepalive), thread_([this] { KeepAlive(); }) {}
  ~Streams() {
    Shutdown();
    thread_.join();
  }

  struct Stream {
    grpc::ClientContext* context;
    EventSink* sink;
    absl::Mutex mutex;
    bool open ABSL_GUARDED_BY(mutex) = false;  // the answer's headers are sent
    bool gone ABSL_GUARDED_BY(mutex) = false;  // the client left
    // Opens the stream; false when the client left.
    bool Open() {
      absl::MutexLock lock(&mutex);
      open = sink->Open();
      if (!open) gone = true;
      return open;
    }
    // Writes `text` whole once open (before, nothing); false (and the
    // stream cancelled) once the client left.
    bool Send(std::string_view text) {
      absl::MutexLock lock(&mutex);
      if (open && !gone && !sink->Send(text)) {
        gone = true;
        context->TryCancel();
      }
      return !gone;
    }
  };

  // Registers `stream`; false after Shutdown.
  bool Add(Stream* stream) {
    absl::MutexLock lock(&mutex_);
    if (closed_) return false;
    streams_.insert(stream);
    return true;
  }
  void Remove(Stream* stream) {
    absl::MutexLock lock(&mutex_);
    streams_.erase(stream);
  }
  void Shutdown() {
    absl::MutexLock lock(&mutex_);
    closed_ = true;
    for (Stream* stream : streams_) stream->context->TryCancel();
  }

 private:
  // Every `keepalive_`, a comment on each stream: a client that left is
  // found by the write that fails. A timer of the transport, not a time of
  // the domain: no clock of the service is read.
  void KeepAlive() {
    absl::MutexLock lock(&mutex_);
    while (!closed_) {
      mutex_.AwaitWithTimeout(absl::Condition(&closed_), absl::FromChrono(keepalive_));
      if (closed_) break;
      for (Stream* stream : streams_) stream->Send(": keepalive\n\n");
    }
  }

  const std::chrono::milliseconds keepalive_;
  absl::Mutex mutex_;
  std::set<Stream*> streams_ ABSL_GUARDED_BY(mutex_);
  bool closed_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

JsonApi::JsonApi(const std::shared_ptr<grpc::Channel>& channel, JsonApiOptions options)
    : stub_(v1::ScoringService::NewStub(channel)),
      options_(std::move(options)),
      streams_(std::make_unique<Streams>(options_.keepalive)) {}

JsonApi::~JsonApi() = default;

void JsonApi::Shutdown() { streams_->Shutdown(); }

bool JsonApi::IsWatch(const HttpRequest& request) {
  return request.method == "GET" && request.path == kWatchPath;
}

namespace {

// A unary call of `method` with the caller's credentials and a deadline:
// its answer as JSON, or its error.
template <typename Request, typename Response>
HttpResponse Unary(v1::ScoringService::Stub& stub,
                   grpc::Status (v1::ScoringService::Stub::*method)(grpc::ClientContext*,
                                                                    const Request&, Response*),
                   const HttpRequest& http, std::chrono::milliseconds deadline,
                   const Request& request) {
  grpc::ClientContext context;
  if (grpc::Status authorised = Authorise(http, context); !authorised.ok()) {
    return ErrorResponse(authorised);
  }
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  Response response;
  const grpc::Status status = (stub.*method)(&context, request, &response);
  return status.ok() ? JsonResponse(response) : ErrorResponse(status);
}

// The method not allowed on a path the API knows.
HttpResponse NotAllowed(const HttpRequest& request, std::string_view allow) {
  HttpResponse response = ErrorResponse(
      {grpc::StatusCode::UNIMPLEMENTED, Echo(request.method) + " is not allowed on " +
                                            Echo(request.path) + "; use " + std::string(allow)});
  response.status = 405;
  response.headers.emplace_back("Allow", std::string(allow));
  return response;
}

grpc::Status ParseAtRisk(const QueryParameters& query, v1::ListAtRiskCustomersRequest* request) {
  grpc::Status status = CheckParameters(
      query, {"top_n", "order_by", "segment", "value_quadrant", "action", "include_lost"});
  std::uint32_t top_n = 0;
  if (status.ok()) status = ParseTopN(Parameter(query, "top_n"), &top_n);
  request->set_top_n(top_n);
  if (const auto order = Parameter(query, "order_by"); status.ok() && order && !order->empty()) {
    v1::AtRiskOrder parsed{};
    if (!v1::AtRiskOrder_Parse(*order, &parsed)) {
      return Invalid("order_by must be AT_RISK_ORDER_CHURN or AT_RISK_ORDER_VALUE_AT_RISK, not " +
                     Echo(*order));
    }
    request->set_order_by(parsed);
  }
  if (status.ok())
    status = ParseText("segment", Parameter(query, "segment"), request->mutable_segment());
  if (status.ok()) {
    status = ParseText("value_quadrant", Parameter(query, "value_quadrant"),
                       request->mutable_value_quadrant());
  }
  if (status.ok())
    status = ParseText("action", Parameter(query, "action"), request->mutable_action());
  bool include_lost = false;
  if (status.ok())
    status = ParseBool("include_lost", Parameter(query, "include_lost"), &include_lost);
  request->set_include_lost(include_lost);
  return status;
}

// The query of GET /v1/offers/{product}/targets; the product is the path's.
grpc::Status ParseOffers(const QueryParameters& query, v1::ListOfferTargetsRequest* request) {
  grpc::Status status =
      CheckParameters(query, {"top_n", "segment", "channel", "include_owners", "campaign_id"});
  std::uint32_t top_n = 0;
  if (status.ok()) status = ParseTopN(Parameter(query, "top_n"), &top_n);
  request->set_top_n(top_n);
  if (status.ok())
    status = ParseText("segment", Parameter(query, "segment"), request->mutable_segment());
  if (const auto channel = Parameter(query, "channel");
      status.ok() && channel && !channel->empty()) {
    v1::Channel parsed{};
    if (!v1::Channel_Parse(*channel, &parsed) || parsed == v1::CHANNEL_UNSPECIFIED) {
      return Invalid("channel must be a channel's name such as EMAIL or SMS, not " +
                     Echo(*channel));
    }
    request->set_channel(parsed);
  }
  bool include_owners = false;
  if (status.ok())
    status = ParseBool("include_owners", Parameter(query, "include_owners"), &include_owners);
  request->set_include_owners(include_owners);
  if (status.ok()) {
    status =
        ParseText("campaign_id", Parameter(query, "campaign_id"), request->mutable_campaign_id());
  }
  return status;
}

// The query of GET /v1/alerts/outcomes.
grpc::Status ParseOutcomes(const QueryParameters& query, v1::GetAlertOutcomesRequest* request) {
  grpc::Status status =
      CheckParameters(query, {"since", "until", "action", "segment", "campaign_id"});
  if (const auto since = Parameter(query, "since"); status.ok() && since && !since->empty()) {
    status = ParseTimestamp("since", since, request->mutable_since());
  }
  if (const auto until = Parameter(query, "until"); status.ok() && until && !until->empty()) {
    status = ParseTimestamp("until", until, request->mutable_until());
  }
  if (status.ok())
    status = ParseText("action", Parameter(query, "action"), request->mutable_action());
  if (status.ok())
    status = ParseText("segment", Parameter(query, "segment"), request->mutable_segment());
  if (status.ok()) {
    status =
        ParseText("campaign_id", Parameter(query, "campaign_id"), request->mutable_campaign_id());
  }
  return status;
}

grpc::Status ParseWatch(const QueryParameters& query, v1::WatchAlertsRequest* request) {
  grpc::Status status =
      CheckParameters(query, {"segment", "min_churn", "action", "include_cleared"});
  if (status.ok())
    status = ParseText("segment", Parameter(query, "segment"), request->mutable_segment());
  if (status.ok())
    status = ParseText("action", Parameter(query, "action"), request->mutable_action());
  if (const auto min_churn = Parameter(query, "min_churn");
      status.ok() && min_churn && !min_churn->empty()) {
    double value = 0;
    const auto [end, error] =
        std::from_chars(min_churn->data(), min_churn->data() + min_churn->size(), value);
    if (error != std::errc() || end != min_churn->data() + min_churn->size() ||
        !std::isfinite(value)) {
      return Invalid("min_churn must be a number, not " + Echo(*min_churn));
    }
    request->set_min_churn(value);
  }
  bool include_cleared = false;
  if (status.ok()) {
    status = ParseBool("include_cleared", Parameter(query, "include_cleared"), &include_cleared);
  }
  request->set_include_cleared(include_cleared);
  return status;
}

}  // namespace

HttpResponse JsonApi::ServeOffers(const HttpRequest& request, std::string_view product) {
  if (request.method != "GET") return NotAllowed(request, "GET");
  if (!IsUtf8(product)) return ErrorResponse(Invalid("product is not UTF-8"));
  v1::ListOfferTargetsRequest call;
  call.set_product(std::string(product));
  if (grpc::Status parsed = ParseOffers(request.parameters, &call); !parsed.ok()) {
    return ErrorResponse(parsed);
  }
  return Unary(*stub_, &v1::ScoringService::Stub::ListOfferTargets, request, options_.deadline,
               call);
}

HttpResponse JsonApi::ServeOutcomes(const HttpRequest& request) {
  if (request.method != "GET") return NotAllowed(request, "GET");
  v1::GetAlertOutcomesRequest call;
  if (grpc::Status parsed = ParseOutcomes(request.parameters, &call); !parsed.ok()) {
    return ErrorResponse(parsed);
  }
  return Unary(*stub_, &v1::ScoringService::Stub::GetAlertOutcomes, request, options_.deadline,
               call);
}

HttpResponse JsonApi::Serve(const HttpRequest& request) {
  const std::string_view path = request.path;
  if (path == kOutcomesPath) return ServeOutcomes(request);
  if (path.starts_with(kOffers) && path.ends_with(kTargetsSuffix) &&
      path.size() > kOffers.size() + kTargetsSuffix.size()) {
    return ServeOffers(
        request, path.substr(kOffers.size(), path.size() - kOffers.size() - kTargetsSuffix.size()));
  }
  if (path.starts_with(kCustomers) && path.size() > kCustomers.size()) {
    std::string_view rest = path.substr(kCustomers.size());
    const bool scores = rest.ends_with(kScoresSuffix) && rest.size() > kScoresSuffix.size();
    const bool state = rest.ends_with(kStateSuffix) && rest.size() > kStateSuffix.size();
    if (scores || state) {
      if (request.method != "GET") return NotAllowed(request, "GET");
      rest.remove_suffix(scores ? kScoresSuffix.size() : kStateSuffix.size());
      if (grpc::Status checked = CheckId(rest); !checked.ok()) return ErrorResponse(checked);
      if (state) {
        if (grpc::Status checked = CheckParameters(request.parameters, {}); !checked.ok()) {
          return ErrorResponse(checked);
        }
        v1::GetCustomerStateRequest call;
        call.set_customer_id(std::string(rest));
        return Unary(*stub_, &v1::ScoringService::Stub::GetCustomerState, request,
                     options_.deadline, call);
      }
      v1::GetCustomerScoresRequest call;
      call.set_customer_id(std::string(rest));
      grpc::Status parsed = CheckParameters(request.parameters, {"as_of"});
      if (const auto as_of = Parameter(request.parameters, "as_of"); parsed.ok() && as_of) {
        parsed = ParseTimestamp("as_of", as_of, call.mutable_as_of());
      }
      if (!parsed.ok()) return ErrorResponse(parsed);
      if (options_.local_scores) {
        v1::CustomerScores response;
        if (const std::optional<grpc::Status> answered =
                options_.local_scores(request.authorization, call, &response)) {
          return answered->ok() ? JsonResponse(response) : ErrorResponse(*answered);
        }
      }
      return Unary(*stub_, &v1::ScoringService::Stub::GetCustomerScores, request, options_.deadline,
                   call);
    }
    if (request.method != "DELETE") return NotAllowed(request, "DELETE");
    if (grpc::Status checked = CheckId(rest); !checked.ok()) return ErrorResponse(checked);
    v1::EraseCustomerRequest call;
    call.set_customer_id(std::string(rest));
    return Unary(*stub_, &v1::ScoringService::Stub::EraseCustomer, request, options_.deadline,
                 call);
  }
  if (path == kBatchPath) {
    if (request.method != "POST") return NotAllowed(request, "POST");
    if (request.body.size() > options_.max_body_bytes) {
      return ErrorResponse(
          {grpc::StatusCode::RESOURCE_EXHAUSTED,
           "the body is over " + std::to_string(options_.max_body_bytes) + " bytes"});
    }
    v1::BatchGetCustomerScoresRequest call;
    JsonParseOptions parse;
    parse.ignore_unknown_fields = false;
    if (const auto parsed = google::protobuf::util::JsonStringToMessage(request.body, &call, parse);
        !parsed.ok()) {
      return ErrorResponse(Invalid("the body is not a BatchGetCustomerScoresRequest in JSON: " +
                                   BoundedText(parsed.message().as_string(), 256)));
    }
    return Unary(*stub_, &v1::ScoringService::Stub::BatchGetCustomerScores, request,
                 options_.deadline, call);
  }
  if (path == kAtRiskPath) {
    if (request.method != "GET") return NotAllowed(request, "GET");
    v1::ListAtRiskCustomersRequest call;
    if (grpc::Status parsed = ParseAtRisk(request.parameters, &call); !parsed.ok()) {
      return ErrorResponse(parsed);
    }
    return Unary(*stub_, &v1::ScoringService::Stub::ListAtRiskCustomers, request, options_.deadline,
                 call);
  }
  if (path == kWatchPath) return NotAllowed(request, "GET");
  return ErrorResponse({grpc::StatusCode::NOT_FOUND, "no route " + Echo(path)});
}

std::optional<HttpResponse> JsonApi::Watch(const HttpRequest& request, EventSink& sink) {
  v1::WatchAlertsRequest call;
  if (grpc::Status parsed = ParseWatch(request.parameters, &call); !parsed.ok()) {
    return ErrorResponse(parsed);
  }
  grpc::ClientContext context;
  if (grpc::Status authorised = Authorise(request, context); !authorised.ok()) {
    return ErrorResponse(authorised);
  }
  Streams::Stream stream{.context = &context, .sink = &sink};
  if (!streams_->Add(&stream)) {
    return ErrorResponse({grpc::StatusCode::UNAVAILABLE, "shutting down"});
  }
  struct Registered {
    Streams* streams;
    Streams::Stream* stream;
    ~Registered() { streams->Remove(stream); }
  } registered{streams_.get(), &stream};
  std::unique_ptr<grpc::ClientReader<v1::ChurnAlert>> reader = stub_->WatchAlerts(&context, call);
  reader->WaitForInitialMetadata();
  if (!context.GetServerInitialMetadata().contains(
          grpc::string_ref(kWatchOpenKey.data(), kWatchOpenKey.size()))) {
    return ErrorResponse(reader->Finish());  // refused: no stream opened
  }
  v1::ChurnAlert alert;
  if (stream.Open()) {
    while (reader->Read(&alert)) {
      if (!stream.Send("data: " + ToJson(alert) + "\n\n")) break;
    }
  }
  context.TryCancel();
  const grpc::Status ended = reader->Finish();
  if (!ended.ok() && ended.error_code() != grpc::StatusCode::CANCELLED) {
    // The service ended the stream (shutting down, say): the client is told
    // why, and reconnects.
    stream.Send("event: error\ndata: " + ErrorResponse(ended).body + "\n\n");
  }
  return std::nullopt;
}

}  // namespace crm
