#include "services/common/fail_point.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "services/common/log.h"

namespace crm {
namespace {

struct Armed {
  long at = 1;  // the pass that crashes
  std::atomic<long> passes{0};
  std::string while_exists;  // NAME@PATH: every pass while PATH exists
};

// The points armed by CRM_FAIL_POINTS, read once.
const std::map<std::string, std::unique_ptr<Armed>, std::less<>>& ArmedPoints() {
  static const auto* points = [] {
    auto* armed = new std::map<std::string, std::unique_ptr<Armed>, std::less<>>();
    const char* spec = std::getenv("CRM_FAIL_POINTS");
    std::istringstream items(spec != nullptr ? spec : "");
    for (std::string item; std::getline(items, item, ',');) {
      if (item.empty()) continue;
      auto point = std::make_unique<Armed>();
      if (const std::size_t at = item.find('@'); at != std::string::npos) {
        point->while_exists = item.substr(at + 1);
        item.resize(at);
        (*armed)[item] = std::move(point);
        continue;
      }
      const std::size_t colon = item.find(':');
      if (colon != std::string::npos) {
        point->at = std::max(1L, std::atol(item.c_str() + colon + 1));
        item.resize(colon);
      }
      (*armed)[item] = std::move(point);
    }
    return armed;
  }();
  return *points;
}

}  // namespace

bool FailPointFails(std::string_view name) {
  const auto& points = ArmedPoints();
  if (points.empty()) return false;
  auto it = points.find(name);
  if (it == points.end()) return false;
  if (!it->second->while_exists.empty()) return access(it->second->while_exists.c_str(), F_OK) == 0;
  return it->second->passes.fetch_add(1) + 1 == it->second->at;
}

void FailPoint(std::string_view name) {
  if (!FailPointFails(name)) return;
  CRM_LOG(kError, "fail-point") << "crashing at " << name << " (CRM_FAIL_POINTS)";
  _exit(kFailPointExitCode);
}

}  // namespace crm
