#pragma once

// What the ingest loop reports, as crm-scored shows it: its lines go to the
// log as the consumer's, and whether it ingests to the health service.

#include <string>
#include <string_view>

#include "core/ingest_loop.h"
#include "services/common/log.h"
#include "services/grpc/grpc_server.h"

namespace crm {

// The health service's name for ingestion: NOT_SERVING while the brokers are
// away or the disk is full (queries are still answered: the server itself
// stays SERVING).
inline const std::string kIngestHealth = "crm.v1.Ingest";

class ConsumerListener final : public IngestListener {
 public:
  // REQUIRES: `server` outlives the listener.
  explicit ConsumerListener(GrpcServer* server) : server_(server) {}
  void IngestingChanged(bool ingesting) override { server_->SetServing(kIngestHealth, ingesting); }
  void Log(Severity severity, std::string_view message) override {
    const LogLevel level = severity == Severity::kError     ? LogLevel::kError
                           : severity == Severity::kWarning ? LogLevel::kWarning
                                                            : LogLevel::kInfo;
    if (LogEnabled(level)) LogLine(level, "consumer", message);
  }

 private:
  GrpcServer* server_;
};

}  // namespace crm
