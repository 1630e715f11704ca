#include "services/http/desk/desk_assets.h"

namespace crm {
namespace desk_internal {

// Defined in the generated desk_assets_data.cc.
extern const DeskAsset kDeskAssets[];
extern const std::size_t kDeskAssetCount;

}  // namespace desk_internal

std::span<const DeskAsset> DeskAssets() {
  return {desk_internal::kDeskAssets, desk_internal::kDeskAssetCount};
}

const DeskAsset* FindDeskAsset(std::string_view path) {
  if (path == "/") path = "/index.html";
  for (const DeskAsset& asset : DeskAssets()) {
    if (asset.path == path) return &asset;
  }
  return nullptr;
}

}  // namespace crm
