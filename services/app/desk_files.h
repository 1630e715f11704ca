#pragma once

#include <string_view>

#include "services/http/http_server.h"

namespace crm {

// The agents' desk's files (services/http/desk/, embedded at build time) as
// the HTTP server serves them outside /v1/: "/" is the page. nullptr: no such
// file. The files live for the whole process; safe from any thread.
const StaticFile* DeskFile(std::string_view path);

}  // namespace crm
