// The embedded broker (crm-devbroker, the service's default) as its clients
// see it on the wire.

#include "services/kafka/embedded_broker.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

namespace crm {
namespace {

// The port of an address "HOST:PORT".
int PortOf(const std::string& address) { return std::stoi(address.substr(address.rfind(':') + 1)); }

// The port of `fd`'s own end (`ends` getsockname) or of its peer's
// (getpeername); nullopt when it has none or is not IPv4.
std::optional<int> PortOf(int fd, decltype(&getsockname) ends) {
  sockaddr_in address{};
  socklen_t length = sizeof(address);
  if (ends(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      address.sin_family != AF_INET) {
    return std::nullopt;
  }
  return ntohs(address.sin_port);
}

// This process's socket that accepted the connection from `client_port` on
// `server_port`, once the broker's thread has accepted it.
std::optional<int> AcceptedSocket(int server_port, int client_port) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::stoi(entry.path().filename().string());
    if (PortOf(fd, getsockname) == server_port && PortOf(fd, getpeername) == client_port) {
      return fd;
    }
  }
  return std::nullopt;
}

// With Nagle's algorithm on the broker's side, a response written in two
// parts waits for the client's delayed acknowledgement (40 ms on Linux): a
// touchpoint took about 80 ms to be seen under a light load (its fetch
// response and the next each waited) where it takes about 2 without.
TEST(EmbeddedBrokerTest, AnswersWithoutWaitingForAcknowledgements) {
  auto broker = EmbeddedBroker::Start({{"crm.touchpoints", 1}});
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string& bootstrap = (*broker)->bootstrap();
  const int server_port = PortOf(bootstrap.substr(0, bootstrap.find(',')));

  const int client = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(client, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(server_port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  const std::optional<int> client_port = PortOf(client, getsockname);
  ASSERT_TRUE(client_port.has_value());

  // The broker accepts on its own thread: wait for its side to exist.
  std::optional<int> accepted;
  for (int tries = 0; tries < 1000 && !accepted; ++tries) {
    accepted = AcceptedSocket(server_port, *client_port);
    if (!accepted) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(accepted.has_value()) << "the broker never accepted the connection";
  int nodelay = 0;
  socklen_t length = sizeof(nodelay);
  ASSERT_EQ(getsockopt(*accepted, IPPROTO_TCP, TCP_NODELAY, &nodelay, &length), 0);
  EXPECT_NE(nodelay, 0) << "the broker's side of a connection keeps Nagle's algorithm";
  close(client);
}

}  // namespace
}  // namespace crm
