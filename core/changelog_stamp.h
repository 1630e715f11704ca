#pragma once

#include <cstdint>

namespace crm {

// A commit in a partition's changelog (core/changelog.h): the owner's epoch
// and its sequence number in the epoch (0: the epoch's fence).
struct ChangelogStamp {
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
  friend bool operator==(const ChangelogStamp&, const ChangelogStamp&) = default;
};

}  // namespace crm
