#include "services/app/process.h"

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>
#include <pthread.h>

#include <string>

#include "services/common/log.h"

namespace crm {

// The log's level and format, and the libraries' lines routed through it.
void InstallLogging(const ServiceOptions& options) {
  SetLogLevel(options.log_level);
  SetLogFormat(options.log_format);
  // libprotobuf reports each record it cannot parse (invalid UTF-8, …) on
  // stderr; those records are rejected and counted already: its lines go to
  // the debug level, so that a stream of bad input cannot flood the log.
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
        if (level >= google::protobuf::LOGLEVEL_FATAL) {
          CRM_LOG(kError, "protobuf") << file << ":" << line << ": " << message;
        } else {
          CRM_LOG(kDebug, "protobuf") << file << ":" << line << ": " << message;
        }
      });
  // gRPC's own lines, through the same log (levels and format).
  gpr_set_log_function([](gpr_log_func_args* args) {
    const LogLevel level = args->severity == GPR_LOG_SEVERITY_ERROR  ? LogLevel::kError
                           : args->severity == GPR_LOG_SEVERITY_INFO ? LogLevel::kInfo
                                                                     : LogLevel::kDebug;
    if (LogEnabled(level)) LogLine(level, "grpc", args->message);
  });
}

sigset_t BlockSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

}  // namespace crm
