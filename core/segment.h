#pragma once

// The ABC segment of a customer: where their revenue places them in the
// population's revenue (core/population.h). A closed set with one name table:
// the names are what the wire (gRPC, the alerts topic, stored state, flags and
// metric labels) carries.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace crm {

// kA: the customers making the top 80 % of the revenue, kB the next 15 %, kC
// the rest; kNone when there is no population to place the customer in.
enum class Segment : std::uint8_t { kNone, kA, kB, kC };

// Every segment, kNone first, in the order of the enum.
inline constexpr std::array<Segment, 4> kSegments = {Segment::kNone, Segment::kA, Segment::kB,
                                                     Segment::kC};

// "" (kNone), "A", "B" or "C".
std::string_view SegmentName(Segment segment);

// The segment SegmentName names ("" gives kNone); nullopt for any other text.
std::optional<Segment> ParseSegment(std::string_view name);

}  // namespace crm
