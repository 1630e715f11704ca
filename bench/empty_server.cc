// crm-bench-empty: the transports of crm-scored's lookups with nothing behind
// them, for crm-bench to measure a lookup's cost against in the same run.
// GetCustomerScores on the service's gRPC server (its limits and edge
// interceptor) answers an empty CustomerScores at once; any HTTP GET on its
// civetweb server (its options) answers a fixed two-byte JSON object. Prints
// "gRPC listening on ADDRESS" and "HTTP listening on ADDRESS", and serves
// until SIGTERM or SIGINT.

#include <civetweb.h>

#include <iostream>
#include <string_view>

#include "crm/v1/scoring.grpc.pb.h"
#include "services/grpc/grpc_server.h"
#include "services/http/http_server.h"
#include "tools/stop_signals.h"

namespace {

// The gRPC method the lookups call, answering at once.
class EmptyScoringService final
    : public crm::v1::ScoringService::WithCallbackMethod_GetCustomerScores<
          crm::v1::ScoringService::Service> {
 public:
  grpc::ServerUnaryReactor* GetCustomerScores(grpc::CallbackServerContext* context,
                                              const crm::v1::GetCustomerScoresRequest* /*request*/,
                                              crm::v1::CustomerScores* /*response*/) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// Every HTTP request: 200 with "{}".
int AnswerEmpty(mg_connection* connection, void* /*data*/) {
  constexpr std::string_view kBody = "{}";
  mg_printf(connection,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
            kBody.size());
  mg_write(connection, kBody.data(), kBody.size());
  return 200;
}

}  // namespace

int main() {
  const sigset_t stop = crm::BlockStopSignals();  // before any thread starts

  EmptyScoringService service;
  auto grpc_server = crm::GrpcServer::Start("127.0.0.1:0", &service, {}, {});
  if (!grpc_server.ok()) {
    std::cerr << "crm-bench-empty: " << grpc_server.status() << "\n";
    return 1;
  }
  const int threads = crm::HttpServerOptions{}.threads;
  auto http = crm::StartCivetweb("127.0.0.1:0", threads, &AnswerEmpty, nullptr);
  if (!http.ok()) {
    std::cerr << "crm-bench-empty: " << http.status() << "\n";
    return 1;
  }
  std::cerr << "crm-bench-empty: gRPC listening on 127.0.0.1:" << (*grpc_server)->port()
            << "\ncrm-bench-empty: HTTP listening on 127.0.0.1:" << http->port << std::endl;
  crm::WaitForStopSignal(stop);
  mg_stop(http->context);
  return 0;
}
