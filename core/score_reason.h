#pragma once

#include <string>

namespace crm {

// Why a score is what it is: a stable code, a sentence for a person, and its
// signed weight in the score.
struct ScoreReason {
  std::string code;
  std::string sentence;
  double weight = 0;
};

}  // namespace crm
