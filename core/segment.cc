#include "core/segment.h"

#include "core/closed_set.h"

namespace crm {
namespace {

constexpr std::array<std::string_view, kSegments.size()> kSegmentNames = {"", "A", "B", "C"};

}  // namespace

std::string_view SegmentName(Segment segment) {
  return kSegmentNames[static_cast<std::size_t>(segment)];
}

std::optional<Segment> ParseSegment(std::string_view name) {
  return ParseByName(kSegments, SegmentName, name);
}

}  // namespace crm
