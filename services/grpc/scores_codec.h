#pragma once

#include <string_view>

#include "core/customer_state.h"
#include "core/scorer.h"
#include "crm/v1/scoring.pb.h"

namespace crm {

void ToProto(const Scores& scores, v1::CustomerScores* out);
void ToProto(const CustomerId& id, const CustomerState& state, v1::CustomerState* out);
// One target of ListOfferTargets: `scores`' appetence for `product` (which
// they score), with its reasons, and their value and channels.
void ToProto(const Scores& scores, std::string_view product, v1::OfferTarget* out);

}  // namespace crm
