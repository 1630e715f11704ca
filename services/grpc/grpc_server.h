#pragma once

// The gRPC server (the scoring service, health and reflection) and its TLS:
// how it listens and what it accepts of its clients, and how one instance
// calls another.

#include <grpcpp/security/credentials.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace grpc {
class Channel;
class Server;
class Service;
}  // namespace grpc

namespace crm {

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
  // A channel to this server within the process (no socket): its calls go
  // through the same service, interceptor and authorisation as a client's.
  std::shared_ptr<grpc::Channel> InProcessChannel();
  // Marks the whole server SERVING or NOT_SERVING in the health service
  // (NOT_SERVING before shutdown).
  void SetServing(bool serving);
  // What SetServing said last (SERVING from the start).
  bool serving() const { return serving_.load(); }
  // The health of one named part ("crm.v1.Ingest": whether touchpoints are
  // being read).
  void SetServing(const std::string& service, bool serving);
  // Stops accepting calls and waits for those in flight (at most `deadline_ms`).
  void Shutdown(int deadline_ms);

 private:
  GrpcServer() = default;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::atomic<bool> serving_{true};
};

}  // namespace crm
