#pragma once

// The HTTP server (--http-listen): the JSON API (json_api.h), the probes
// /healthz and /readyz, and the agents' desk's files, on civetweb — the
// HTTP server the process already links for /metrics (prometheus-cpp's
// exposer is built on it), so no second one is brought in.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "services/http/json_api.h"

struct mg_context;
struct mg_connection;

namespace crm {

// A file served as it is (the desk's page, script and style sheet).
struct StaticFile {
  std::string_view content_type;
  std::string_view body;
};

struct HttpServerOptions {
  // Connections served at once: each alert stream holds one for its whole
  // life, so this is the streams allowed (--max-watchers) and room for lookups.
  int threads = 32;
  // The file at a path outside /v1/ ("/" is the page); nullptr: none.
  // Unset: the agents' desk (services/http/desk/, embedded at build time).
  std::function<const StaticFile*(std::string_view path)> files;
  // Whether the service serves (GET /readyz: 200, else 503).
  std::function<bool()> ready;
};

// civetweb listening on `listen` with `threads` connections served at once,
// every path handled by `handle(connection, data)` (a civetweb request
// handler): how the HTTP server, and crm-bench's empty one, start.
struct CivetwebServer {
  mg_context* context = nullptr;  // mg_stop when done
  int port = 0;
};
absl::StatusOr<CivetwebServer> StartCivetweb(const std::string& listen, int threads,
                                             int (*handle)(mg_connection*, void*), void* data);

class HttpServer {
 public:
  // Listens on `listen` ("HOST:PORT", HOST an IP address; port 0 picks one)
  // and answers the API's routes with calls on `channel` (the gRPC server's
  // in-process channel).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const std::string& listen, const std::shared_ptr<grpc::Channel>& channel,
      HttpServerOptions options, JsonApiOptions api_options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // Ends the alert streams, then waits for the requests in flight and closes.
  void Stop();

 private:
  HttpServer(const std::shared_ptr<grpc::Channel>& channel, HttpServerOptions options,
             JsonApiOptions api_options)
      : api_(channel, std::move(api_options)), options_(std::move(options)) {}
  static int Handle(mg_connection* connection, void* self);
  int Answer(mg_connection* connection);

  JsonApi api_;
  HttpServerOptions options_;
  mg_context* context_ = nullptr;
  int port_ = 0;
};

}  // namespace crm
