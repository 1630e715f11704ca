#include "services/common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/bounded_text.h"
#include "core/clock.h"
#include "core/closed_set.h"

namespace crm {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::atomic<LogFormat> g_format{LogFormat::kText};
absl::Mutex g_write_mutex(absl::kConstInit);  // one line on stderr at a time

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
  }
  return "?";
}

}  // namespace

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  while (!text.empty()) {
    const char c = text.front();
    const std::size_t length = Utf8Length(text);
    if (length == 0) {
      out += "\\ufffd";
      text.remove_prefix(1);
      continue;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
    } else {
      out.append(text.substr(0, length));
    }
    text.remove_prefix(length);
  }
  return out + "\"";
}

void SetLogLevel(LogLevel level) { g_level.store(level); }
void SetLogFormat(LogFormat format) { g_format.store(format); }
bool LogEnabled(LogLevel level) { return level >= g_level.load(std::memory_order_relaxed); }

void LogLine(LogLevel level, std::string_view component, std::string_view message) {
  // Log lines carry wall time, whatever clock drives the scores.
  const std::int64_t micros = ToMicros(WallClock().Now());
  const std::time_t seconds = static_cast<std::time_t>(micros / 1'000'000);
  const auto millis = (micros / 1000) % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  if (g_format.load(std::memory_order_relaxed) == LogFormat::kJson) {
    std::string cut;
    if (message.size() > kMaxLogMessageBytes) {  // JsonString escapes the rest
      cut.assign(message.substr(0, kMaxLogMessageBytes - 64));
      cut += "...[cut, " + std::to_string(message.size()) + " bytes]";
      message = cut;
    }
    char ts[48];
    std::snprintf(ts, sizeof ts, "%s.%03dZ", stamp, static_cast<int>(millis));
    const std::string line = "{\"ts\":\"" + std::string(ts) + "\",\"level\":\"" + LevelName(level) +
                             "\",\"component\":" + JsonString(component) +
                             ",\"msg\":" + JsonString(message) + "}\n";
    absl::MutexLock lock(&g_write_mutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
    return;
  }
  // What came from outside (ids, details, names) may be anywhere in a
  // message: escaped and bounded here, so that no caller can forget it.
  const std::string safe_component = BoundedText(component, kMaxLogMessageBytes);
  const std::string safe_message = BoundedText(message, kMaxLogMessageBytes);
  absl::MutexLock lock(&g_write_mutex);
  std::fprintf(stderr, "%s.%03dZ %-5s %s: %s\n", stamp, static_cast<int>(millis), LevelName(level),
               safe_component.c_str(), safe_message.c_str());
  std::fflush(stderr);
}

std::string IsoTime(Timestamp t) {
  const std::time_t seconds = static_cast<std::time_t>(ToMicros(t) / 1'000'000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string_view LogLevelName(LogLevel level) {
  static constexpr std::array<std::string_view, kLogLevels.size()> kNames = {"debug", "info",
                                                                             "warn", "error"};
  return kNames[static_cast<std::size_t>(level)];
}

std::optional<LogLevel> ParseLogLevel(std::string_view name) {
  return ParseByName(kLogLevels, LogLevelName, name);
}

std::string_view LogFormatName(LogFormat format) {
  static constexpr std::array<std::string_view, kLogFormats.size()> kNames = {"text", "json"};
  return kNames[static_cast<std::size_t>(format)];
}

std::optional<LogFormat> ParseLogFormat(std::string_view name) {
  return ParseByName(kLogFormats, LogFormatName, name);
}

}  // namespace crm
