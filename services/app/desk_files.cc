#include "services/app/desk_files.h"

#include <vector>

#include "services/http/desk/desk_assets.h"

namespace crm {

const StaticFile* DeskFile(std::string_view path) {
  // One StaticFile per asset, in the assets' order.
  static const std::vector<StaticFile>* const files = [] {
    auto* built = new std::vector<StaticFile>();
    for (const DeskAsset& asset : DeskAssets()) built->push_back({asset.content_type, asset.body});
    return built;
  }();
  const DeskAsset* asset = FindDeskAsset(path);
  return asset == nullptr ? nullptr
                          : &(*files)[static_cast<std::size_t>(asset - DeskAssets().data())];
}

}  // namespace crm
