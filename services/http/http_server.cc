#include "services/http/http_server.h"

#include <civetweb.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <vector>

#include "services/http/desk/desk_assets.h"

namespace crm {
namespace {

// The agents' desk's embedded files as the server serves them; nullptr: none.
const StaticFile* DeskFile(std::string_view path) {
  static const std::vector<StaticFile>* const files = [] {  // in DeskAssets()' order
    auto* built = new std::vector<StaticFile>();
    for (const DeskAsset& asset : DeskAssets()) built->push_back({asset.content_type, asset.body});
    return built;
  }();
  const DeskAsset* asset = FindDeskAsset(path);
  return asset == nullptr ? nullptr
                          : &(*files)[static_cast<std::size_t>(asset - DeskAssets().data())];
}

// Sent with every answer: nothing is sniffed, framed, cached by a proxy or
// fetched from elsewhere by the desk.
constexpr std::pair<const char*, const char*> kSecurityHeaders[] = {
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"Content-Security-Policy",
     "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"},
};

// The status line and the headers every answer has, `content_type` among them.
std::string Head(int status, std::string_view content_type) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " ";
  head += mg_get_response_code_text(nullptr, status);
  head += "\r\nContent-Type: ";
  head += content_type;
  head += "\r\n";
  for (const auto& [name, value] : kSecurityHeaders) {
    head += name;
    head += ": ";
    head += value;
    head += "\r\n";
  }
  return head;
}

// The whole answer in one write: a head and a body sent apart cost a packet
// and a system call more each, and this is the lookups' hot path.
int Send(mg_connection* connection, const HttpResponse& response) {
  std::string text = Head(response.status, response.content_type);
  text += "Cache-Control: no-store\r\n";
  for (const auto& [name, value] : response.headers) {
    text.append(name).append(": ").append(value).append("\r\n");
  }
  text += "Content-Length: " + std::to_string(response.body.size()) + "\r\n\r\n";
  text += response.body;
  mg_write(connection, text.data(), text.size());
  return response.status;
}

// An alert stream's answer on a civetweb connection.
class ConnectionSink final : public EventSink {
 public:
  explicit ConnectionSink(mg_connection* connection) : connection_(connection) {}
  bool Open() override {
    // No length: the stream ends when the connection closes.
    return Send(Head(200, "text/event-stream") +
                "Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
                // The first comment makes the browser's reader see the stream open.
                ": open\n\n");
  }
  bool Send(std::string_view text) override {
    return mg_write(connection_, text.data(), text.size()) == static_cast<int>(text.size());
  }

 private:
  mg_connection* connection_;
};

// The most query parameters a request may carry (a route takes six at most).
constexpr std::size_t kMaxParameters = 32;

// `query` split into its parameters by civetweb, names and values
// percent-decoded ('+' is a space, as in a form); nullopt when there are
// more than kMaxParameters.
std::optional<QueryParameters> Parameters(const char* query) {
  QueryParameters parameters;
  if (query == nullptr || *query == '\0') return parameters;
  std::string text(query);  // split and decoded in place
  if (static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return c == '&' || c == ';';
      })) >= kMaxParameters) {
    return std::nullopt;
  }
  std::array<mg_header, kMaxParameters> fields{};
  const int count = mg_split_form_urlencoded(text.data(), fields.data(), fields.size());
  for (int i = 0; i < count; ++i) {
    const mg_header& field = fields[static_cast<std::size_t>(i)];
    parameters.emplace_back(field.name, field.value != nullptr ? field.value : "");
  }
  return parameters;
}

// The request's body, at most `limit` + 1 bytes kept (one more tells it is
// too long). The rest is read and dropped, up to 4 times `limit`, so that
// the client, still sending, reads the refusal rather than a reset.
std::string ReadBody(mg_connection* connection, std::size_t limit) {
  std::string body;
  char buffer[8192];
  for (std::size_t read_bytes = 0; read_bytes <= 4 * limit;) {
    const int read = mg_read(connection, buffer, sizeof(buffer));
    if (read <= 0) break;
    read_bytes += static_cast<std::size_t>(read);
    if (body.size() <= limit) body.append(buffer, static_cast<std::size_t>(read));
  }
  return body;
}

}  // namespace

absl::StatusOr<CivetwebServer> StartCivetweb(const std::string& listen, int threads,
                                             int (*handle)(mg_connection*, void*), void* data) {
  static std::once_flag initialised;
  std::call_once(initialised, [] { mg_init_library(0); });
  const std::string thread_count = std::to_string(std::max(threads, 2));
  const char* civetweb_options[] = {"listening_ports", listen.c_str(), "num_threads",
                                    thread_count.c_str(), "enable_keep_alive", "yes",
                                    "request_timeout_ms", "30000",
                                    // An answer's head and body go in two writes: without
                                    // this, Nagle holds the body for the peer's delayed
                                    // ACK, 40 ms a call.
                                    "tcp_nodelay", "1", nullptr};
  mg_callbacks callbacks{};
  // civetweb's own messages (a port taken, say) are reported by Start's error.
  callbacks.log_message = [](const mg_connection*, const char*) { return 1; };
  CivetwebServer server;
  server.context = mg_start(&callbacks, data, civetweb_options);
  if (server.context == nullptr) {
    return absl::UnavailableError("cannot listen for HTTP on " + listen);
  }
  mg_server_port ports[4] = {};
  const int count = mg_get_server_ports(server.context, 4, ports);
  if (count < 1 || ports[0].port == 0) {
    mg_stop(server.context);
    return absl::UnavailableError("cannot listen for HTTP on " + listen);
  }
  server.port = ports[0].port;
  mg_set_request_handler(server.context, "/", handle, data);
  return server;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const std::string& listen, const std::shared_ptr<grpc::Channel>& channel,
    HttpServerOptions options, JsonApiOptions api_options) {
  std::unique_ptr<HttpServer> server(
      new HttpServer(channel, std::move(options), std::move(api_options)));
  auto started = StartCivetweb(listen, server->options_.threads, &HttpServer::Handle, server.get());
  if (!started.ok()) return started.status();
  server->context_ = started->context;
  server->port_ = started->port;
  return server;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (context_ == nullptr) return;
  api_.Shutdown();
  mg_stop(context_);
  context_ = nullptr;
}

int HttpServer::Handle(mg_connection* connection, void* self) {
  return static_cast<HttpServer*>(self)->Answer(connection);
}

int HttpServer::Answer(mg_connection* connection) {
  const mg_request_info* info = mg_get_request_info(connection);
  const char* authorization = mg_get_header(connection, "Authorization");
  HttpRequest request{.method = info->request_method,
                      .path = info->local_uri != nullptr ? info->local_uri : "",
                      .authorization = authorization != nullptr ? authorization : ""};
  if (request.path.starts_with("/v1/")) {
    std::optional<QueryParameters> parameters = Parameters(info->query_string);
    if (!parameters) {
      return Send(connection, ErrorResponse({grpc::StatusCode::INVALID_ARGUMENT,
                                             "more than " + std::to_string(kMaxParameters) +
                                                 " query parameters"}));
    }
    request.parameters = *std::move(parameters);
    if (JsonApi::IsWatch(request)) {
      ConnectionSink sink(connection);
      if (std::optional<HttpResponse> refused = api_.Watch(request, sink)) {
        return Send(connection, *refused);
      }
      return 200;
    }
    if (request.method == "POST") request.body = ReadBody(connection, api_.max_body_bytes());
    return Send(connection, api_.Serve(request));
  }
  const bool read = request.method == "GET" || request.method == "HEAD";
  if (request.path == "/healthz" && read) {
    return Send(connection, {.body = R"({"status":"SERVING"})"});
  }
  if (request.path == "/readyz" && read) {
    const bool ready = !options_.ready || options_.ready();
    return Send(connection,
                {.status = ready ? 200 : 503,
                 .body = ready ? R"({"status":"SERVING"})" : R"({"status":"NOT_SERVING"})"});
  }
  if (const StaticFile* file =
          options_.files ? options_.files(request.path) : DeskFile(request.path);
      file != nullptr && read) {
    return Send(connection,
                {.content_type = std::string(file->content_type), .body = std::string(file->body)});
  }
  return Send(connection, ErrorResponse({grpc::StatusCode::NOT_FOUND, "no such page"}));
}

}  // namespace crm
