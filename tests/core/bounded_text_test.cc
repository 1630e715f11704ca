#include "core/bounded_text.h"

#include <gtest/gtest.h>

#include <string>

#include "core/validation.h"

namespace crm {
namespace {

// No byte of `text` is a control character (a line is one line, no escape
// code reaches a terminal).
bool Printable(const std::string& text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return false;
  }
  return true;
}

TEST(BoundedTextTest, KeepsPlainTextAndValidUtf8AsTheyAre) {
  EXPECT_EQ(BoundedText("", 64), "");
  EXPECT_EQ(BoundedText("Cannot find field: x", 64), "Cannot find field: x");
  EXPECT_EQ(BoundedText("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 64),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

TEST(BoundedTextTest, EscapesControlCharactersBackslashesAndInvalidUtf8) {
  EXPECT_EQ(BoundedText("a\nb\rc\td", 64), "a\\nb\\rc\\td");
  EXPECT_EQ(BoundedText("\x1b[31mred\x7f", 64), "\\x1b[31mred\\x7f");
  EXPECT_EQ(BoundedText(std::string("nul\0!", 5), 64), "nul\\x00!");
  EXPECT_EQ(BoundedText("back\\slash", 64), "back\\\\slash");  // an escape stays unambiguous
  EXPECT_EQ(BoundedText("\xff\xc0\xaf", 64), "\\xff\\xc0\\xaf");
  EXPECT_EQ(BoundedText("a\xe2\x82", 64), "a\\xe2\\x82");  // a sequence cut short
}

// What a terminal acts on though it is valid UTF-8: a C1 control (U+009B
// works as an escape), a line separator, a bidi override.
TEST(BoundedTextTest, EscapesC1SeparatorsAndBidiControls) {
  EXPECT_EQ(BoundedText("a\u202eb\xc2\x9b"
                        "c\u2028d",
                        1024),
            "a\\u202eb\\u009bc\\u2028d");
  EXPECT_TRUE(IsPrintable(BoundedText("x\u2066y\xc2\x85z", 1024)));
  EXPECT_FALSE(IsPrintable("x\u2066y"));
  EXPECT_TRUE(IsPrintable("caf\u00e9"));
}

TEST(BoundedTextTest, CutsLongTextWithinTheBoundSayingSo) {
  const std::string huge(600'000, 'n');
  const std::string cut = BoundedText(huge, 1024);
  EXPECT_LE(cut.size(), 1024u);
  EXPECT_GE(cut.size(), 1000u);  // uses what it may
  EXPECT_EQ(cut.substr(0, 900), huge.substr(0, 900));
  EXPECT_TRUE(cut.ends_with("...[cut, 600000 bytes]")) << cut.substr(900);
  // Exactly at the bound: kept whole.
  EXPECT_EQ(BoundedText(std::string(1024, 'x'), 1024), std::string(1024, 'x'));
  EXPECT_NE(BoundedText(std::string(1025, 'x'), 1024), std::string(1025, 'x'));
}

TEST(BoundedTextTest, NeverCutsInsideAnEscapeOrACharacter) {
  for (std::size_t max = 64; max < 120; ++max) {
    const std::string escapes = BoundedText(std::string(200, '\x1b'), max);
    ASSERT_LE(escapes.size(), max);
    const std::string kept = escapes.substr(0, escapes.find("..."));
    ASSERT_EQ(kept.size() % 4, 0u) << max;  // whole "\x1b"s only
    std::string euros;
    for (int i = 0; i < 60; ++i) euros += "\xe2\x82\xac";
    const std::string utf8 = BoundedText(euros, max);
    ASSERT_LE(utf8.size(), max);
    ASSERT_EQ(utf8.substr(0, utf8.find("...")).size() % 3, 0u) << max;
  }
}

TEST(RejectionTest, ADetailIsBoundedToOnePrintableLineWhereverItComesFrom) {
  std::string detail =
      "invalid JSON touchpoint: Cannot find field: \"" + std::string(600'000, 'f') + "\"\n\x1b[2J";
  const Rejection huge(RejectReason::kMalformed, detail);
  EXPECT_EQ(huge.reason, RejectReason::kMalformed);
  EXPECT_LE(huge.detail().size(), kMaxRejectionDetailBytes);
  EXPECT_TRUE(huge.detail().starts_with("invalid JSON touchpoint: Cannot find field: \"fff"));
  EXPECT_TRUE(Printable(huge.detail())) << huge.detail();

  const Rejection hostile(RejectReason::kMalformed, "bad\nname\x1b[31m");
  EXPECT_EQ(hostile.detail(), "bad\\nname\\x1b[31m");
  const Rejection copied = hostile;
  EXPECT_EQ(copied.detail(), hostile.detail());
}

}  // namespace
}  // namespace crm
