#pragma once

// An HTTP/1.1 client for the tests of the HTTP/JSON API, on a plain socket
// (one connection a request, closed after the answer): whole answers, and
// alert streams read event by event.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace crm::testing {

struct HttpAnswer {
  int status = 0;                              // 0: no answer (the connection failed)
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
};

// `method` `target` ("/v1/…?…") on `address` ("127.0.0.1:PORT"), with
// `token` as a bearer credential (empty: none) and `body` (sent with a
// Content-Type of application/json when not empty).
HttpAnswer HttpCall(const std::string& address, const std::string& method,
                    const std::string& target, const std::string& token = "",
                    const std::string& body = "");

// GET `target` as a Server-Sent Events stream, read by a thread of its own.
class EventStream {
 public:
  EventStream(const std::string& address, const std::string& target, const std::string& token = "");
  ~EventStream();  // closes the connection and joins the reader
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  // The answer's status and headers (the body when it is not a stream).
  const HttpAnswer& answer() const { return answer_; }
  // Waits until at least `count` events ("data:" lines) arrived, or the
  // stream ended, or 60 s passed; every event so far.
  std::vector<std::string> WaitForEvents(std::size_t count);
  // Whether the server ended the stream; everything it sent, comments included.
  bool ended();
  std::string text();

 private:
  void Read();
  int fd_ = -1;
  HttpAnswer answer_;
  absl::Mutex mutex_;
  std::string text_ ABSL_GUARDED_BY(mutex_);
  bool ended_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread reader_;
};

}  // namespace crm::testing
