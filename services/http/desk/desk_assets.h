#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace crm {

// One file of the agents' desk (the web page served at "/"), embedded in the
// binary at build time from services/http/desk/ (embed_assets.cmake). The
// views point into static storage: valid for the life of the process, safe to
// read from any thread.
struct DeskAsset {
  std::string_view path;          // "/desk.js": "/" followed by the file's name
  std::string_view content_type;  // for the Content-Type header, e.g. "text/css; charset=utf-8"
  std::string_view body;          // the file's bytes
};

// The asset served at `path` (a request's path, without its query string):
// "/" and "/index.html" are the page itself. nullptr: no such asset (the
// caller answers 404).
const DeskAsset* FindDeskAsset(std::string_view path);

// Every embedded asset, "/index.html" among them.
std::span<const DeskAsset> DeskAssets();

}  // namespace crm
