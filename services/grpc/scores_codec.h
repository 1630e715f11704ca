#pragma once

#include "core/customer_state.h"
#include "core/scorer.h"
#include "crm/v1/scoring.pb.h"

namespace crm {

void ToProto(const Scores& scores, v1::CustomerScores* out);
void ToProto(const CustomerId& id, const CustomerState& state, v1::CustomerState* out);

}  // namespace crm
