#include "tests/integration/http_client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sstream>

#include "tools/scrape.h"

namespace crm::testing {
namespace {

// A connected socket to `address` with the request sent; -1 when it cannot.
int Send(const std::string& address, const std::string& method, const std::string& target,
         const std::string& token, const std::string& body) {
  const int fd = ConnectTcp(address);
  if (fd < 0) return -1;
  std::string request =
      method + " " + target + " HTTP/1.1\r\nHost: " + address + "\r\nConnection: close\r\n";
  if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
  if (!body.empty()) request += "Content-Type: application/json\r\n";
  if (!body.empty() || method == "POST") {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  for (std::size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      close(fd);
      return -1;
    }
    sent += static_cast<std::size_t>(n);
  }
  return fd;
}

// Reads into `text` until it holds the answer's head, or EOF; false at EOF.
bool ReadHead(int fd, std::string& text) {
  char buffer[8192];
  while (text.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return false;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return true;
}

// The status and headers of the head at the start of `text`, which loses it.
HttpAnswer TakeHead(std::string& text) {
  HttpAnswer answer;
  const std::size_t end = text.find("\r\n\r\n");
  std::istringstream head(text.substr(0, end));
  text.erase(0, end + 4);
  std::string line;
  std::getline(head, line);
  if (line.size() > 12) answer.status = std::atoi(line.c_str() + 9);  // "HTTP/1.1 200 OK"
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    answer.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
  }
  return answer;
}

}  // namespace

HttpAnswer HttpCall(const std::string& address, const std::string& method,
                    const std::string& target, const std::string& token, const std::string& body) {
  const int fd = Send(address, method, target, token, body);
  if (fd < 0) return {};
  std::string text;
  char buffer[8192];
  for (ssize_t n; (n = recv(fd, buffer, sizeof(buffer), 0)) > 0;) {
    text.append(buffer, static_cast<std::size_t>(n));
  }
  close(fd);
  if (text.find("\r\n\r\n") == std::string::npos) return {};
  HttpAnswer answer = TakeHead(text);
  answer.body = std::move(text);
  return answer;
}

EventStream::EventStream(const std::string& address, const std::string& target,
                         const std::string& token) {
  fd_ = Send(address, "GET", target, token, "");
  std::string text;
  if (fd_ < 0 || !ReadHead(fd_, text)) return;
  answer_ = TakeHead(text);
  {
    absl::MutexLock lock(&mutex_);
    text_ = std::move(text);
  }
  reader_ = std::thread([this] { Read(); });
}

EventStream::~EventStream() {
  if (fd_ < 0) return;
  shutdown(fd_, SHUT_RDWR);  // wakes the reader blocked in recv
  if (reader_.joinable()) reader_.join();
  close(fd_);
}

void EventStream::Read() {
  char buffer[8192];
  for (ssize_t n; (n = recv(fd_, buffer, sizeof(buffer), 0)) > 0;) {
    absl::MutexLock lock(&mutex_);
    text_.append(buffer, static_cast<std::size_t>(n));
  }
  absl::MutexLock lock(&mutex_);
  ended_ = true;
}

namespace {
std::vector<std::string> Events(const std::string& text) {
  std::vector<std::string> events;
  for (std::size_t at = text.find("data: "); at != std::string::npos;
       at = text.find("data: ", at + 1)) {
    if (at != 0 && text[at - 1] != '\n') continue;
    const std::size_t end = text.find("\n\n", at);
    if (end == std::string::npos) break;  // not whole yet
    events.push_back(text.substr(at + 6, end - at - 6));
  }
  return events;
}
}  // namespace

std::vector<std::string> EventStream::WaitForEvents(std::size_t count) {
  absl::MutexLock lock(&mutex_);
  const auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return ended_ || Events(text_).size() >= count;
  };
  mutex_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(60));
  return Events(text_);
}

bool EventStream::ended() {
  absl::MutexLock lock(&mutex_);
  return ended_;
}

std::string EventStream::text() {
  absl::MutexLock lock(&mutex_);
  return text_;
}

}  // namespace crm::testing
