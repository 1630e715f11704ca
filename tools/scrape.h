#pragma once

// Reading a Prometheus /metrics page, for crm-demo's view and for tests, and
// the TCP connection the tests' and crm-bench's HTTP clients open.

#include <optional>
#include <string>
#include <string_view>

namespace crm {

// A TCP connection to `host_port` ("HOST:PORT", HOST a name or an address):
// its socket, or -1 when it cannot be made.
int ConnectTcp(const std::string& host_port);

// The body of GET `url` ("http://HOST:PORT/PATH", HTTP/1.0); nullopt when it
// cannot be fetched.
std::optional<std::string> HttpGet(const std::string& url);

// The sum of the samples of `metric` in a Prometheus text page: every label
// set of a bare name ("crm_touchpoints_applied_total"), or one series when
// the labels are given ("crm_model_loads_total{result=\"rejected\"}").
double SumSamples(std::string_view page, std::string_view metric);

}  // namespace crm
