#include "bench/http_lookups.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include "tools/scrape.h"

namespace crm::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

// A connection to `address` that sends each request at once (no Nagle).
int Connect(const std::string& address) {
  const int fd = ConnectTcp(address);
  const int one = 1;
  if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

// `id` percent-encoded for a path segment.
std::string Encoded(const std::string& id) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : id) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// One call on a kept-alive connection: the answer's status, 0 when the
// connection broke. `buffer` keeps what was read past the answer (none: one
// request at a time).
int Call(int fd, const std::string& request, std::string& buffer) {
  for (std::size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return 0;
    sent += static_cast<std::size_t>(n);
  }
  buffer.clear();
  char chunk[16384];
  std::size_t head_end = std::string::npos, length = 0;
  for (;;) {
    if (head_end == std::string::npos &&
        (head_end = buffer.find("\r\n\r\n")) != std::string::npos) {
      const std::size_t at = buffer.find("Content-Length: ");
      if (at == std::string::npos || at > head_end) return 0;
      length = std::strtoull(buffer.c_str() + at + 16, nullptr, 10);
    }
    if (head_end != std::string::npos && buffer.size() >= head_end + 4 + length) {
      return std::atoi(buffer.c_str() + 9);  // "HTTP/1.1 200 OK"
    }
    const ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return 0;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
}

}  // namespace

HttpLookupResult HttpLookups(const std::string& address, const std::vector<std::string>& customers,
                             int callers, double seconds) {
  const auto started = SteadyClock::now();
  const auto until = started + std::chrono::duration_cast<SteadyClock::duration>(
                                   std::chrono::duration<double>(seconds));
  std::vector<std::vector<double>> samples(static_cast<std::size_t>(callers));
  std::atomic<std::int64_t> errors{0};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(callers));
  for (int c = 0; c < callers; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937_64 rng(2000 + static_cast<std::uint64_t>(c));
      std::uniform_int_distribution<std::size_t> pick(0, customers.size() - 1);
      std::string buffer;
      int fd = -1;
      while (SteadyClock::now() < until) {
        if (fd < 0 && (fd = Connect(address)) < 0) {
          errors.fetch_add(1);
          return;
        }
        const std::string request = "GET /v1/customers/" + Encoded(customers[pick(rng)]) +
                                    "/scores HTTP/1.1\r\nHost: " + address + "\r\n\r\n";
        const auto sent = SteadyClock::now();
        const int status = Call(fd, request, buffer);
        samples[static_cast<std::size_t>(c)].push_back(
            std::chrono::duration<double, std::micro>(SteadyClock::now() - sent).count());
        if (status != 200) errors.fetch_add(1);
        if (status == 0) {  // broken: a new connection for the next call
          close(fd);
          fd = -1;
        }
      }
      if (fd >= 0) close(fd);
    });
  }
  for (std::thread& thread : threads) thread.join();
  HttpLookupResult result;
  for (auto& caller : samples) {
    result.samples_us.insert(result.samples_us.end(), caller.begin(), caller.end());
  }
  result.rate = static_cast<double>(result.samples_us.size()) /
                std::chrono::duration<double>(SteadyClock::now() - started).count();
  result.errors = errors.load();
  return result;
}

}  // namespace crm::bench
