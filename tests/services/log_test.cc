#include "services/common/log.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

namespace crm {
namespace {

// The flag names of the level and the format parse back, and only they.
TEST(LogNamesTest, EveryLevelAndFormatNameParsesBack) {
  for (LogLevel level : kLogLevels) EXPECT_EQ(ParseLogLevel(LogLevelName(level)), level);
  EXPECT_EQ(LogLevelName(LogLevel::kWarning), "warn");
  EXPECT_EQ(LogLevelName(LogLevel::kDebug), "debug");
  for (LogFormat format : kLogFormats) EXPECT_EQ(ParseLogFormat(LogFormatName(format)), format);
  EXPECT_EQ(LogFormatName(LogFormat::kJson), "json");
  for (std::string_view name : {"", "WARN", "warning", "INFO", "trace"}) {
    EXPECT_EQ(ParseLogLevel(name), std::nullopt) << name;
  }
  for (std::string_view name : {"", "JSON", "xml"}) {
    EXPECT_EQ(ParseLogFormat(name), std::nullopt) << name;
  }
}

TEST(JsonStringTest, EscapesWhatJsonNeedsAndKeepsValidUtf8) {
  EXPECT_EQ(JsonString(""), "\"\"");
  EXPECT_EQ(JsonString("a \"b\" \\ c"), "\"a \\\"b\\\" \\\\ c\"");
  EXPECT_EQ(JsonString("line\nfeed\ttab\x01"), "\"line\\u000afeed\\u0009tab\\u0001\"");
  EXPECT_EQ(JsonString("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
}

TEST(JsonStringTest, ReplacesEveryByteThatIsNotValidUtf8) {
  EXPECT_EQ(JsonString("\xff"), "\"\\ufffd\"");
  EXPECT_EQ(JsonString("a\xe2\x82"), "\"a\\ufffd\\ufffd\"");                      // cut short
  EXPECT_EQ(JsonString("\xc0\xaf"), "\"\\ufffd\\ufffd\"");                        // overlong
  EXPECT_EQ(JsonString("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");             // a surrogate
  EXPECT_EQ(JsonString("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // > U+10FFFF
}

TEST(LogTest, AJsonLineIsOneObjectWithTheTimeLevelComponentAndMessage) {
  SetLogFormat(LogFormat::kJson);
  ::testing::internal::CaptureStderr();
  LogLine(LogLevel::kWarning, "consumer", "lost \"broker\"\nretrying \xff");
  const std::string line = ::testing::internal::GetCapturedStderr();
  SetLogFormat(LogFormat::kText);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;  // one line
  google::protobuf::Struct object;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &object).ok()) << line;
  const auto& fields = object.fields();
  EXPECT_EQ(fields.at("level").string_value(), "WARN");
  EXPECT_EQ(fields.at("component").string_value(), "consumer");
  EXPECT_EQ(fields.at("msg").string_value(), "lost \"broker\"\nretrying \xef\xbf\xbd");
  const std::string ts = fields.at("ts").string_value();
  ASSERT_EQ(ts.size(), 24u) << ts;  // 2026-12-02T03:04:05.678Z
  EXPECT_EQ(ts[10], 'T');
  EXPECT_EQ(ts.back(), 'Z');
}

TEST(LogTest, ATextLineEscapesWhatCameFromOutsideAndStaysOneLine) {
  ::testing::internal::CaptureStderr();
  LogLine(LogLevel::kWarning, "consumer",
          "rejected (malformed): field \"evil\nFAKE ERROR line\x1b[2J\x07\" \xff");
  const std::string line = ::testing::internal::GetCapturedStderr();
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;  // one line
  for (std::size_t i = 0; i + 1 < line.size(); ++i) {
    const auto byte = static_cast<unsigned char>(line[i]);
    EXPECT_FALSE(byte < 0x20 || byte == 0x7f) << "raw control byte at " << i << ": " << line;
  }
  EXPECT_NE(line.find(" WARN  consumer: rejected (malformed): field \"evil\\nFAKE ERROR "
                      "line\\x1b[2J\\x07\" \\xff\n"),
            std::string::npos)
      << line;
}

TEST(LogTest, ALongMessageIsCutInBothFormats) {
  const std::string huge(600'000, 'n');
  for (const LogFormat format : {LogFormat::kText, LogFormat::kJson}) {
    SetLogFormat(format);
    ::testing::internal::CaptureStderr();
    LogLine(LogLevel::kInfo, "consumer", huge);
    const std::string line = ::testing::internal::GetCapturedStderr();
    SetLogFormat(LogFormat::kText);
    EXPECT_LE(line.size(), kMaxLogMessageBytes + 200);
    EXPECT_NE(line.find("...[cut, 600000 bytes]"), std::string::npos);
    EXPECT_EQ(line.find('\n'), line.size() - 1);
  }
}

}  // namespace
}  // namespace crm
