#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/customer_id.h"
#include "core/customer_state.h"
#include "core/model.h"
#include "core/time.h"
#include "core/touchpoint.h"

namespace crm {

enum class LifecycleStage : std::uint8_t { kProspect, kDevelopment, kMaturity, kDecline };
std::string_view LifecycleStageName(LifecycleStage stage);  // "PROSPECT", …

struct RfmValues {
  double recency_days = -1;                   // -1: never bought
  std::uint64_t frequency = 0;                // transactions (distinct purchase days)
  double monetary = 0;                        // revenue per transaction
  int r_score = 0, f_score = 0, m_score = 0;  // 1-5 against the population; 0: unknown
  std::uint64_t purchases = 0;
  double revenue = 0;  // purchases minus returns
  std::uint32_t product_types = 0;
};

struct ScoreReason {
  std::string code;
  std::string sentence;
  double weight = 0;
};

// A customer's scores as of one moment.
struct Scores {
  CustomerId customer_id;
  Timestamp as_of{};
  double churn = 0;
  double p_alive = 0;
  std::map<std::string, double> appetence;
  RfmValues rfm;
  double clv = 0;
  std::string segment;
  std::string value_quadrant;
  LifecycleStage lifecycle_stage = LifecycleStage::kProspect;
  Channel preferred_channel = Channel::kUnspecified;
  std::vector<ScoreReason> reasons;
  std::uint64_t events_applied = 0;
  std::string model_version;
};

// Computes scores from a customer's state as of a moment, with one model.
// Pure and stateless: safe to call from any thread.
class Scorer {
 public:
  explicit Scorer(Model model) : model_(std::move(model)) {}

  const Model& model() const { return model_; }

  // Time-dependent values (recency, lifecycle decline) are measured at `as_of`;
  // events later than `as_of` are still part of the aggregates.
  Scores Score(const CustomerId& id, const CustomerState& state, Timestamp as_of) const;

 private:
  Model model_;
};

// The channel the customer uses most (every touchpoint but consent and profile
// counts once); ties go to the most recent. kUnspecified
// when the customer has no channel activity.
Channel PreferredChannel(const CustomerState& state);

LifecycleStage Lifecycle(const CustomerState& state, Timestamp as_of, const LifecycleParams& p);

}  // namespace crm
