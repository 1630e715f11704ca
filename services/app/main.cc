// crm-scored: the scoring service. See services/app/scoring_app.h.
#include "services/app/options.h"
#include "services/app/scoring_app.h"

int main(int argc, char** argv) {
  crm::ParsedOptions parsed = crm::ParseServiceOptions(argc, argv);
  if (!parsed.options) return parsed.exit_code;
  return crm::RunScoringApp(*parsed.options);
}
