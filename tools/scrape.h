#pragma once

// Reading a Prometheus /metrics page, for crm-demo's view and for tests.

#include <optional>
#include <string>
#include <string_view>

namespace crm {

// The body of GET `url` ("http://HOST:PORT/PATH", HTTP/1.0); nullopt when it
// cannot be fetched.
std::optional<std::string> HttpGet(const std::string& url);

// The sum of the samples of `metric` in a Prometheus text page: every label
// set of a bare name ("crm_touchpoints_applied_total"), or one series when
// the labels are given ("crm_model_loads_total{result=\"rejected\"}").
double SumSamples(std::string_view page, std::string_view metric);

}  // namespace crm
