#pragma once

// Can't-happen states crash loudly (STYLE.md: a fast restart and the
// exactly-once recovery make that safe), never clamp silently. The
// abseil on the build machines has no absl/log/check.h yet; these stand in
// for ABSL_CHECK and ABSL_DCHECK with the same meaning.
//
// CRM_CHECK(condition): on a false condition, prints the file,
// line and condition to stderr and aborts, in every build.
// CRM_DCHECK(condition): the same in debug builds (NDEBUG unset) and in the
// sanitizer builds (CRM_DCHECK_ON, scripts/sanitize.sh); in others the
// condition is not evaluated.

#include <cstdio>
#include <cstdlib>

namespace crm::check_internal {

[[noreturn]] inline void Fail(const char* file, int line, const char* condition) {
  std::fprintf(stderr, "%s:%d: check failed: %s\n", file, line, condition);
  std::fflush(stderr);
  std::abort();
}

}  // namespace crm::check_internal

#define CRM_CHECK(condition)                                       \
  do {                                                             \
    if (!(condition)) [[unlikely]] {                               \
      ::crm::check_internal::Fail(__FILE__, __LINE__, #condition); \
    }                                                              \
  } while (false)

#if defined(NDEBUG) && !defined(CRM_DCHECK_ON)
#define CRM_DCHECK(condition) \
  do {                        \
  } while (false && (condition))
#else
#define CRM_DCHECK(condition) CRM_CHECK(condition)
#endif
