#pragma once

#include <google/protobuf/message.h>

#include <string>

#include "crm/v1/scoring.pb.h"

namespace crm {

// How crm-score shows the API's answers to people: plain-text tables, one
// fact a line, numbers rounded for reading (the JSON form keeps them whole).

// One customer's scores: the indicators, then the churn's reasons and each
// product's appetence with its strongest reason (the largest weight towards
// it; "-" when none is).
std::string ScoresTable(const v1::CustomerScores& scores);

// How fresh an answer is, on one line: who answered (and whether the call
// was forwarded), the partition, its lag and when it was last up to date,
// and whether the population ranks left partitions out.
std::string FreshnessLine(const v1::Freshness& freshness);

// The at-risk list: rank, customer, churn, segment, stage, the strongest
// reason towards churn.
std::string AtRiskTable(const v1::ListAtRiskCustomersResponse& response);

// One alert on one line: when, which, who (and, for a clear, CLEARED and its
// reason), churn before -> now, what to do,
// through which channel, and why (the strongest reason).
std::string AlertLine(const v1::ChurnAlert& alert);

// The message in protobuf's JSON mapping with the .proto field names and the
// fields at their defaults printed too (a script finds every key); on one line
// when `one_line` (a stream: one object a line).
std::string ToJson(const google::protobuf::Message& message, bool one_line);

}  // namespace crm
