#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include "crm/v1/scoring.pb.h"
#include "services/grpc/alert_hub.h"

namespace crm {

// One WatchAlerts stream on gRPC's callback API: no thread of its own. It
// subscribes to `hub` with `filter`, sends the headers with kWatchOpenKey
// (the caller is then subscribed; a refused stream has no such header), and writes each alert
// queued for it, one write in flight at a time; a caller that does not read only fills its own
// bounded queue (the hub drops its oldest alerts). It ends UNAVAILABLE when the hub closes,
// RESOURCE_EXHAUSTED at once when the hub has all the subscribers it takes,
// and when the caller leaves. The reactor deletes itself when gRPC is done.
grpc::ServerWriteReactor<v1::ChurnAlert>* StartAlertWatch(grpc::CallbackServerContext* context,
                                                          AlertHub* hub, AlertHub::Filter filter);

// A stream that ends at once with `status` (a refused WatchAlerts).
grpc::ServerWriteReactor<v1::ChurnAlert>* RefuseAlertWatch(const grpc::Status& status);

}  // namespace crm
