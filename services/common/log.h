#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "core/time.h"

namespace crm {

enum class LogLevel { kDebug, kInfo, kWarning, kError };
inline constexpr std::array<LogLevel, 4> kLogLevels = {LogLevel::kDebug, LogLevel::kInfo,
                                                       LogLevel::kWarning, LogLevel::kError};
// "debug", "info", "warn" or "error", as --log-level spells it (a line says
// DEBUG, INFO, WARN or ERROR).
std::string_view LogLevelName(LogLevel level);
// The level LogLevelName names; nullopt for any other text.
std::optional<LogLevel> ParseLogLevel(std::string_view name);

// "2026-11-23T01:02:03Z": `t` in UTC, to the second.
std::string IsoTime(Timestamp t);

// Sets the lowest level written (default kInfo). Call before threads start.
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

// How a line is written: text (default) or one JSON object a line, for a log
// shipper: {"ts":"<UTC time>","level":"INFO","component":"...","msg":"..."}.
enum class LogFormat { kText, kJson };
inline constexpr std::array<LogFormat, 2> kLogFormats = {LogFormat::kText, LogFormat::kJson};
// "text" or "json", as --log-format spells it.
std::string_view LogFormatName(LogFormat format);
// The format LogFormatName names; nullopt for any other text.
std::optional<LogFormat> ParseLogFormat(std::string_view name);
// Call before threads start.
void SetLogFormat(LogFormat format);

// The longest message a line carries; a longer one is cut, saying so.
inline constexpr std::size_t kMaxLogMessageBytes = 8 * 1024;

// Writes one line to stderr: "<UTC time> <LEVEL> <component>: <message>", or
// its JSON object. Whatever the message holds, the line is one line: in text,
// the component and message are BoundedText (core/bounded_text.h: control
// characters, a backslash and invalid UTF-8 escaped, cut at
// kMaxLogMessageBytes); in JSON, the message is cut at kMaxLogMessageBytes and
// JsonString escapes it. Thread-safe; lines from different threads never
// interleave.
void LogLine(LogLevel level, std::string_view component, std::string_view message);

// `text` as a JSON string literal, quotes included: control characters
// escaped, and a byte that is not part of valid UTF-8 replaced by U+FFFD.
std::string JsonString(std::string_view text);

// Builds the message with operator<< and writes it when the object dies:
//   CRM_LOG(kInfo, "kafka") << "assigned " << n << " partitions";
class LogMessage {
 public:
  LogMessage(LogLevel level, std::string_view component) : level_(level), component_(component) {}
  ~LogMessage() { LogLine(level_, component_, stream_.str()); }
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  template <typename T>
  LogMessage& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  LogLevel level_;
  std::string_view component_;
  std::ostringstream stream_;
};

}  // namespace crm

#define CRM_LOG(level, component)                 \
  if (!::crm::LogEnabled(::crm::LogLevel::level)) \
    ;                                             \
  else                                            \
    ::crm::LogMessage(::crm::LogLevel::level, component)
