// The agents' desk is embedded in the binary: every file under
// services/http/desk/ is found under its path, with its content type, and
// "/" is the page itself.
#include "services/http/desk/desk_assets.h"

#include <gtest/gtest.h>

#include <string>

namespace crm {
namespace {

TEST(DeskAssetsTest, EveryFileIsFoundWithItsContentType) {
  const struct {
    const char* path;
    const char* content_type;
    const char* opening;  // a string the file must contain
  } expected[] = {
      {"/index.html", "text/html; charset=utf-8", "<!doctype html>"},
      {"/desk.css", "text/css; charset=utf-8", ":root"},
      {"/desk.js", "text/javascript; charset=utf-8", "\"use strict\";"},
      {"/i18n.js", "text/javascript; charset=utf-8", "DESK_MESSAGES"},
      {"/outcomes.js", "text/javascript; charset=utf-8", "loadOutcomes"},
  };
  EXPECT_EQ(DeskAssets().size(), std::size(expected));
  for (const auto& want : expected) {
    const DeskAsset* asset = FindDeskAsset(want.path);
    ASSERT_NE(asset, nullptr) << want.path;
    EXPECT_EQ(asset->path, want.path);
    EXPECT_EQ(asset->content_type, want.content_type) << want.path;
    EXPECT_NE(asset->body.find(want.opening), std::string_view::npos) << want.path;
  }
}

TEST(DeskAssetsTest, TheRootIsThePageAndItsAssetsAreAllEmbedded) {
  const DeskAsset* root = FindDeskAsset("/");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root, FindDeskAsset("/index.html"));
  // Everything the page loads is embedded: nothing is fetched from elsewhere.
  for (const char* reference :
       {"href=\"/desk.css\"", "src=\"/desk.js\"", "src=\"/i18n.js\"", "src=\"/outcomes.js\""}) {
    EXPECT_NE(root->body.find(reference), std::string_view::npos) << reference;
  }
  EXPECT_EQ(root->body.find("http://"), std::string_view::npos);
  EXPECT_EQ(root->body.find("https://"), std::string_view::npos);
  // Bytes survive the embedding: the French words are UTF-8.
  const DeskAsset* words = FindDeskAsset("/i18n.js");
  ASSERT_NE(words, nullptr);
  EXPECT_NE(words->body.find("Français"), std::string_view::npos);
}

TEST(DeskAssetsTest, UnknownPathsAreNotFound) {
  for (const char* path :
       {"", "/nope.js", "/desk.js/", "desk.js", "/v1/at-risk", "/../desk.js", "/index.html?x=1"}) {
    EXPECT_EQ(FindDeskAsset(path), nullptr) << path;
  }
}

}  // namespace
}  // namespace crm
