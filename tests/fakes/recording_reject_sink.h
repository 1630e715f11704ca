#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/reject_sink.h"
#include "core/validation.h"

namespace crm::testing {

// A RejectSink that keeps what it was sent: `queued` until Flush, then
// `flushed` (the records a real sink would have made durable). Flush fails
// with UnavailableError, keeping the queue, while `fail_flush` is set; reports
// `pass_over` records passed over (then resets it). Like the
// port, used from one thread; read the public fields.
class RecordingRejectSink final : public RejectSink {
 public:
  struct Sent {
    std::int32_t partition = 0;
    std::int64_t offset = 0;
    std::string key;
    std::string value;
    Rejection rejection;
  };

  absl::Status Send(std::int32_t partition, std::int64_t offset, std::string_view key,
                    std::string_view value, const Rejection& rejection) override {
    queued.push_back({partition, offset, std::string(key), std::string(value), rejection});
    return absl::OkStatus();
  }

  absl::StatusOr<std::uint64_t> Flush() override {
    ++flush_calls;
    if (fail_flush) return absl::UnavailableError("injected flush failure");
    flushed.insert(flushed.end(), queued.begin(), queued.end());
    queued.clear();
    return std::exchange(pass_over, 0);
  }

  bool fail_flush = false;
  std::uint64_t pass_over = 0;  // what the next Flush reports as passed over
  int flush_calls = 0;
  std::vector<Sent> queued;
  std::vector<Sent> flushed;
};

}  // namespace crm::testing
