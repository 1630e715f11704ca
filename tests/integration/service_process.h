#pragma once

#include "tools/child_process.h"

namespace crm::testing {

using crm::ChildProcess;
using crm::TempDir;

}  // namespace crm::testing
